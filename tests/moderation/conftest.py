"""Fixtures for the prompt policy: adding terms as moderators and operators do."""

import pytest

from apps.moderation import policy, services


@pytest.fixture(autouse=True)
def _fresh_term_index():
    """Each test starts from its own list (the process-wide index is rebuilt on change)."""
    policy.index_invalidate()
    yield
    policy.index_invalidate()


@pytest.fixture
def moderator(make_user):
    from apps.moderation.roles import role_set

    user = make_user("mod")
    role_set(user=user, role="moderator")
    return user


@pytest.fixture
def protect(db, django_capture_on_commit_callbacks):
    """``protect("Term", "refuse")`` lists a term, with the after-commit invalidation run."""

    def add(term: str, action: str = "refuse", note: str = ""):
        with django_capture_on_commit_callbacks(execute=True):
            row, _ = services.term_add(term=term, action=action, note=note)
        return row

    return add
