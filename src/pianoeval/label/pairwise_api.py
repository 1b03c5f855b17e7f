"""The pairwise labeling routes: a FastAPI router the labeling app includes with one line.

Routes (all under ``/pairwise``; every ``/pairwise/*`` JSON route needs
``Authorization: Bearer <token>``, a token of the answer store, 401 otherwise):

``GET /pairwise/``, ``GET /pairwise/pairwise.js``
    The page (plain HTML and JS; the token comes from ``#token=...`` in the address).
``GET /pairwise/next``
    The next pair x dimension this rater has not answered, with the question, the media
    URLs of take A (left) and take B (right) and which of them the rater has heard.
``POST /pairwise/heard`` ``{"segment_id"}``
    The page calls it when a take has played to its end.
``POST /pairwise/choice`` ``{"left_id", "right_id", "dim", "choice"}``
    Saves one comparison, committed before the answer; 409 until both takes were heard,
    404 for a pair or a dimension this router does not serve.
``GET /pairwise/mine``
    The rater's own comparisons.
``GET /pairwise/scores``
    Bradley-Terry scores per dimension and passage, all raters pooled (admins only: 403).

Each rater goes through the pairs in an order of their own (a permutation seeded by their
rater id, so raters spread over the pairs), all dimensions of a pair before the next pair,
so the two takes are heard once for all questions.

Examples
--------
>>> from fastapi import FastAPI
>>> import tempfile, os
>>> from pianoeval.label.pairwise import Pair
>>> app = FastAPI()
>>> app.include_router(pairwise_router(
...     os.path.join(tempfile.mkdtemp(), "answers.sqlite"), [Pair("a", "b", "x")],
...     ["percepiano19.drama"], lambda segment_id: f"/media/{segment_id}"))
"""

# No ``from __future__ import annotations``: FastAPI must see the dependency types of the
# routes defined inside pairwise_router as objects, not as names it cannot resolve.
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Response, status
from fastapi.responses import FileResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from pianoeval.dims import Dimension, resolve_dimension
from pianoeval.errors import ParameterError
from pianoeval.label.pairwise import (
    DEFAULT_ALPHA,
    NotHeardError,
    Pair,
    PairQuestion,
    PairStore,
    pair_question,
    pairwise_scores,
    scores_document,
)
from pianoeval.label.store import Rater

__all__ = ["STATIC_DIR", "pairwise_router"]

#: Where pairwise.html and pairwise.js live.
STATIC_DIR = Path(__file__).resolve().parent / "static"


class Take(BaseModel):
    """One take of the pair as the page needs it."""

    segment_id: str
    media_url: str
    heard: bool


class NextPair(BaseModel):
    """The next question for a rater, or ``done`` when every pair x dimension is answered."""

    done: bool
    answered: int = Field(description="Comparisons this rater has given (of this session's).")
    total: int = Field(description="Pairs x dimensions this router serves.")
    passage: str | None = None
    dim: str | None = None
    question: str | None = None
    low: str | None = None
    high: str | None = None
    left: Take | None = None
    right: Take | None = None


class HeardIn(BaseModel):
    """A take played to its end."""

    segment_id: str = Field(min_length=1)


class ChoiceIn(BaseModel):
    """One answer: which take is nearer the dimension's high end, or ``same``."""

    left_id: str = Field(min_length=1)
    right_id: str = Field(min_length=1)
    dim: str = Field(min_length=1)
    choice: Literal["left", "right", "same"]


class ComparisonOut(BaseModel):
    """A stored comparison."""

    left_id: str
    right_id: str
    dim: str
    choice: Literal["left", "right", "same"]
    created: str
    updated: str


def _resolve(dims: Sequence[str | Dimension]) -> list[PairQuestion]:
    if not dims:
        raise ParameterError("pairwise_router needs at least one dimension")
    questions = [
        pair_question(d if isinstance(d, Dimension) else resolve_dimension(d)) for d in dims
    ]
    names = [q.dim for q in questions]
    if len(set(names)) != len(names):
        raise ParameterError(f"pairwise_router: a dimension is given twice ({names})")
    return questions


def _check_pairs(pairs: Sequence[Pair]) -> list[Pair]:
    seen: set[frozenset[str]] = set()
    for p in pairs:
        key = frozenset((p.left_id, p.right_id))
        if len(key) != 2:
            raise ParameterError(f"pair of a take with itself: {p.left_id!r}")
        if key in seen:
            raise ParameterError(f"pair {p.left_id!r} / {p.right_id!r} is given twice")
        seen.add(key)
    return list(pairs)


def pairwise_router(
    store_path: str | os.PathLike[str],
    pairs: Sequence[Pair],
    dims: Sequence[str | Dimension],
    media_url: Callable[[str], str],
    *,
    alpha: float = DEFAULT_ALPHA,
) -> APIRouter:
    """Build the ``/pairwise`` router over the answer store at ``store_path``.

    Parameters
    ----------
    store_path : str or os.PathLike
        The labeling app's SQLite file (the :class:`~pianoeval.label.store.AnswerStore`
        one); the comparisons go into tables of their own in it.
    pairs : sequence of Pair
        What to ask (:func:`pianoeval.label.pairwise.make_pairs`).
    dims : sequence of str or Dimension
        Dimensions asked for every pair (qualified names recommended); comparisons are stored
        under the qualified name.
    media_url : callable
        ``segment_id -> URL`` the page's audio player loads (the app serves the media).
    alpha : float
        Bradley-Terry penalty of the scores route.

    Returns
    -------
    fastapi.APIRouter
        Include it with ``app.include_router(router)``.

    Raises
    ------
    ParameterError
        No dimension, an unknown one, a repeated dimension or pair, a take paired with itself.
    LabelStoreError
        The store file cannot be used.
    """
    questions = _resolve(dims)
    by_dim = {q.dim: q for q in questions}
    pair_list = _check_pairs(pairs)
    pair_index = {(p.left_id, p.right_id): p for p in pair_list}
    passages = {s: p.passage for p in pair_list for s in (p.left_id, p.right_id)}
    store = PairStore(store_path)
    bearer = HTTPBearer(auto_error=False, description="A rater token of the answer store.")
    router = APIRouter(prefix="/pairwise", tags=["pairwise"])

    def current_rater(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Rater:
        rater = store.authenticate(credentials.credentials) if credentials else None
        if rater is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "unknown or missing rater token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return rater

    RaterDep = Annotated[Rater, Depends(current_rater)]  # noqa: N806 - a type alias

    def order_for(rater: Rater) -> list[Pair]:
        # a permutation of its own per rater, so raters spread over the pairs
        perm = np.random.default_rng(rater.id).permutation(len(pair_list))
        return [pair_list[i] for i in perm]

    @router.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "pairwise.html", media_type="text/html")

    @router.get("/pairwise.js", include_in_schema=False)
    def script() -> FileResponse:
        return FileResponse(STATIC_DIR / "pairwise.js", media_type="text/javascript")

    @router.get("/next", response_model=NextPair)
    def next_pair(rater: RaterDep) -> NextPair:
        """Return the next pair x dimension the rater has not answered yet."""
        done = {
            (c.left_id, c.right_id, c.dim)
            for c in store.comparisons_of(rater)
            if (c.left_id, c.right_id) in pair_index and c.dim in by_dim
        }
        total = len(pair_list) * len(questions)
        heard = store.heard_by(rater)
        for p in order_for(rater):
            for q in questions:
                if (p.left_id, p.right_id, q.dim) in done:
                    continue
                return NextPair(
                    done=False,
                    answered=len(done),
                    total=total,
                    passage=p.passage,
                    dim=q.dim,
                    question=q.text,
                    low=q.low,
                    high=q.high,
                    left=Take(
                        segment_id=p.left_id,
                        media_url=media_url(p.left_id),
                        heard=p.left_id in heard,
                    ),
                    right=Take(
                        segment_id=p.right_id,
                        media_url=media_url(p.right_id),
                        heard=p.right_id in heard,
                    ),
                )
        return NextPair(done=True, answered=len(done), total=total)

    @router.post("/heard", status_code=status.HTTP_204_NO_CONTENT)
    def heard(body: HeardIn, rater: RaterDep) -> Response:
        """Record that the rater played a take to its end."""
        if body.segment_id not in passages:
            raise HTTPException(404, f"segment {body.segment_id!r} is in no pair of this session")
        store.mark_heard(rater, body.segment_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.post("/choice", response_model=ComparisonOut)
    def choice(body: ChoiceIn, rater: RaterDep) -> ComparisonOut:
        """Save one comparison (committed before the response); 409 until both were heard."""
        if (body.left_id, body.right_id) not in pair_index:
            raise HTTPException(
                404, f"{body.left_id!r} / {body.right_id!r} is not a pair of this session"
            )
        if body.dim not in by_dim:
            raise HTTPException(404, f"dimension {body.dim!r} is not asked in this session")
        try:
            c = store.save_comparison(rater, body.left_id, body.right_id, body.dim, body.choice)
        except NotHeardError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        return ComparisonOut(
            left_id=c.left_id,
            right_id=c.right_id,
            dim=c.dim,
            choice=c.choice,
            created=c.created,
            updated=c.updated,
        )

    @router.get("/mine", response_model=list[ComparisonOut])
    def mine(rater: RaterDep) -> list[ComparisonOut]:
        """Return the rater's own comparisons."""
        return [
            ComparisonOut(
                left_id=c.left_id,
                right_id=c.right_id,
                dim=c.dim,
                choice=c.choice,
                created=c.created,
                updated=c.updated,
            )
            for c in store.comparisons_of(rater)
        ]

    @router.get("/scores")
    def scores(rater: RaterDep) -> dict[str, Any]:
        """Bradley-Terry scores per dimension and passage, every rater pooled (admins only)."""
        if not rater.is_admin:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "the scores need an admin token")
        comps = [
            c
            for c in store.all_comparisons(rater)
            if (c.left_id, c.right_id) in pair_index and c.dim in by_dim
        ]
        return scores_document(pairwise_scores(comps, passages, alpha=alpha), alpha=alpha)

    return router
