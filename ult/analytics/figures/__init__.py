"""Loyalty figures over the events DataFrame of :mod:`ult.analytics.loading`, one module per
family: :mod:`.activity` (streams and time), :mod:`.visits` (visits and the time between
them), :mod:`.cohorts` (retention), :mod:`.rewards` (points and the reward funnel),
:mod:`.claims` (claims, redemption, staff decisions), :mod:`.refusals` (refusals and scan
velocity) and :mod:`.promotions` (promotion lift); :mod:`.selection`, :mod:`.periods` and
:mod:`.tables` are what they share. :mod:`ult.analytics` re-exports the figures.

Every function meant for display returns a table that passed the k-anonymity guard
(:mod:`ult.analytics.privacy`; ``k=None`` means the default k). A card is the pair
(``sid``, ``cid``): one customer's cards at two sponsors are unlinkable by design, so they
count as two cards. Periods are calendar periods in UTC: ``"D"`` days, ``"W"`` weeks from
Monday, ``"M"`` months; the hour × weekday heatmap uses each sponsor's local time.
"""
