"""The vocabulary generated titles, descriptions, comments and file names draw from."""

from __future__ import annotations

import random

FILE_NAMES = [
    "spec.pdf",
    "screenshot.png",
    "server.log",
    "data.csv",
    "design.docx",
    "notes.txt",
    "trace.har",
    "mockup.fig",
    "Résumé des tests.xlsx",
]
WORDS = [
    "checkout",
    "payment",
    "search",
    "login",
    "profile",
    "cart",
    "invoice",
    "export",
    "report",
    "sync",
    "offline",
    "cache",
    "token",
    "session",
    "catalog",
    "filter",
    "banner",
    "onboarding",
    "audit",
    "webhook",
    "retry",
    "quota",
    "billing",
    "dashboard",
    "latency",
    "index",
    "migration",
    "locale",
    "upload",
    "avatar",
    "receipt",
    "refund",
]
VERBS = [
    "Add",
    "Fix",
    "Improve",
    "Support",
    "Refactor",
    "Investigate",
    "Remove",
    "Validate",
    "Document",
    "Speed up",
]
TAGS = [
    "backend",
    "frontend",
    "ux",
    "tech debt",
    "security",
    "performance",
    "customer",
    "a11y",
    "release-blocker",
]


def slug(rng: random.Random) -> str:
    return "-".join(rng.sample(WORDS, 2))
