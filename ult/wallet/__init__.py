"""Wallet passes: a loyalty card shown in Apple Wallet or Google Wallet (docs/wallet.md).

A pass is a view of one card, made on request by the phone that holds the card's key; it never
carries the key or the card id. ``view`` is what every pass shows; ``apple`` and ``google`` turn
it into each wallet's format and keep passes up to date.
"""
