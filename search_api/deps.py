"""FastAPI dependencies shared by the routers."""

from __future__ import annotations

from fastapi import Request

from search_api.state import AppState


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.casesearch
    return state
