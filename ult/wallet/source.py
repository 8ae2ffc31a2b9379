"""A pass's :class:`PassView` from what Redis holds now: the card (by id), the sponsor's
profile (name, place) and the card's latest claim (an open voucher). A card ``ult archive
--trim-days`` moved to the lake is put back first, as the customer's page would put it back:
a pass never drops to zero points because its card went quiet."""

from __future__ import annotations

from functools import partial

from ult import ops
from ult.cards import Card, read_card_by_cid
from ult.connection import AsyncClient
from ult.restoring import arestore_archived
from ult.sponsors import Profile, get_profile
from ult.wallet.registry import WalletPass
from ult.wallet.view import PassView

CARD_PAGE = "/wallet"  # a pass links to the cards page (the scan page would count a visit)


def view_of(p: WalletPass, card: Card, profile: Profile | None, public_url: str) -> PassView:
    """What pass ``p`` shows of ``card``."""
    claim = card.claim or {}
    voucher = claim.get("state") == "approved"
    return PassView(
        serial=p.serial,
        sid=card.sid,
        biz=card.biz,
        points=card.points,
        visits=card.visits,
        points_needed=card.rule.points_needed,
        reward=card.rule.reward,
        lang=p.lang,
        card_url=public_url.rstrip("/") + CARD_PAGE,
        updated_ms=p.updated_ms,
        voucher_code=claim.get("code") if voucher else None,
        voucher_expires_ms=claim.get("expires_at") if voucher else None,
        latitude=profile.lat if profile else None,
        longitude=profile.lng if profile else None,
    )


async def aview(r: AsyncClient, p: WalletPass, public_url: str) -> PassView:
    """The view of pass ``p`` now (UltError ``unknown_sponsor`` when its business left)."""
    card = await ops.arun(r, read_card_by_cid(p.sid, p.cid))
    if card.visits == 0 and await arestore_archived(partial(ops.arun, r), p.sid, p.cid):
        card = await ops.arun(r, read_card_by_cid(p.sid, p.cid))
    profile = await ops.arun(r, get_profile(p.sid))
    return view_of(p, card, profile, public_url)
