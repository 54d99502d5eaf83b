"""What every HTTP connector shares: its client, its rate budget, its records, its writes.

A system's connector (``connectors/<system>/client.py``) subclasses :class:`HttpConnector`
and says only what is its own: the API's path, how the token is sent, which headers name
the account, how a raw record maps (``_to_entry``), and its endpoints. The base owns the
:class:`~connectors.http.HttpClient` (created once, closed by :meth:`close`), the
rate-limit key (one budget per API account, shared by every client of the process), the
token's redaction, judging each raw record alone, and the one rule for a write's answer:
an answer that cannot be read as the record written is an unknown outcome.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from connectors.base import (
    COPIES_FILTER,
    BadRequestError,
    Capabilities,
    NotFoundError,
    ReadItem,
    UnknownOutcomeError,
)
from connectors.config import ConnectorBase
from connectors.credential import Credential, as_credential, bearer
from connectors.http import HttpClient, RateLimiter, RetryPolicy
from connectors.model import CanonicalEntry, Origin
from connectors.paging import distinct
from connectors.ratelimit import BudgetSource
from connectors.records import RECORD_ERRORS, judge, reason, record_id_of

F = TypeVar("F", bound=BaseModel)


class HttpConnector:
    """Base of the connectors that speak HTTP through :class:`~connectors.http.HttpClient`.

    Subclasses name :attr:`system`, :attr:`api_path` and :attr:`capabilities` in their
    header (see :meth:`__init_subclass__`), implement
    :meth:`_to_entry`, make their own state in :meth:`_prepare`, and may override
    :meth:`auth_headers`, :meth:`account_headers` and :meth:`rate_key`. Kaiten and
    Tracker list one task's records (:meth:`_task_records`); their :meth:`lookup` and
    :meth:`find_copies` are the ones here.
    """

    def __init_subclass__(cls, *, system: str, api_path: str, capabilities: Capabilities,
                          **kwargs: Any) -> None:
        """``class KaitenConnector(HttpConnector, system=..., api_path=..., capabilities=...)``:
        what every connector class must say, said in its header."""
        super().__init_subclass__(**kwargs)
        cls.system, cls.api_path, cls.capabilities = system, api_path, capabilities

    #: The connector type this class serves (its ``type`` in the config).
    system: ClassVar[str]
    #: Appended to ``base_url``: where the API lives on the host (``/api/latest``, ``/v2``).
    api_path: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    def __init__(self, name: str, config: ConnectorBase, token: str | Credential, *,
                 retry: RetryPolicy | None = None,
                 transport: httpx.BaseTransport | None = None,
                 rate_budgets: BudgetSource | None = None) -> None:
        self.name = name
        self.config = config
        self.reference_source = config.reference_source
        credential = as_credential(token)
        limiter = RateLimiter.shared(self.rate_key(credential.value),
                                     config.requests_per_second, rate_budgets)
        self._http = HttpClient(
            connector=name,
            base_url=config.base_url + self.api_path,
            headers={**self.auth_headers(credential.value), **self.account_headers(),
                     "Accept": "application/json"},
            # The token is scrubbed from every message, log line and exception.
            secrets=(credential.value,),
            rate_limiter=limiter,
            retry=retry,
            timeout=config.timeout_seconds,
            max_rate_limit_seconds=config.max_rate_limit_seconds,
            transport=transport,
            # After a 401, a token read from a file is read again and sent this way.
            credential=credential,
            auth_headers=self.auth_headers,
        )
        self._prepare()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, base_url={self.config.base_url!r})"

    # -- what a system may say differently ---------------------------------------------

    def auth_headers(self, token: str) -> dict[str, str]:
        """The headers that carry ``token`` (``Authorization: Bearer`` unless overridden)."""
        return bearer(token)

    def account_headers(self) -> dict[str, str]:
        """Headers naming the account inside the API (an organisation, a tenant)."""
        return {}

    def rate_key(self, token: str) -> str:
        """The key of this account's rate budget: the system, the host, what
        :meth:`account_headers` names, and a digest of the token (never the token itself)."""
        digest = hashlib.sha256(token.encode()).hexdigest()[:12]
        return ":".join([self.system, self.config.base_url,
                         *self.account_headers().values(), digest])

    def _prepare(self) -> None:
        """The connector's own state, once the client exists (paginators, caches)."""

    def _to_entry(self, raw: Any) -> CanonicalEntry:
        """One raw record as an entry; :class:`~connectors.model.MappingError` when it is
        not one."""
        raise NotImplementedError

    def _task_records(self, task: str) -> list[Any]:
        """Every raw record of one task, read to its proven end ([] when the task is gone)."""
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------------

    def close(self) -> None:
        """Release the HTTP client."""
        self._http.close()

    def lookup(self, record_id: str, task: str) -> ReadItem | None:
        """Record ``record_id`` of ``task``, from the task's records; None when it is gone.

        A task that no longer exists (404) has no records, so that is None as well.
        """
        for raw in self._task_records(task):
            if record_id_of(raw) == str(record_id):
                return self._item(raw)
        return None

    def find_copies(self, origin: Origin, task: str | None) -> list[CanonicalEntry]:
        """The records of ``task`` whose marker names ``origin``.

        These APIs are searched task by task, so without a task (None) there is nowhere
        to look and the answer is an empty list.
        """
        if task is None:
            return []
        items = (self._item(raw) for raw in self._task_records(task))
        return [i for i in items if isinstance(i, CanonicalEntry) and i.origin == origin]

    def _item(self, raw: Any) -> ReadItem:
        """``raw`` judged alone: an entry, or a skip with its reason."""
        return judge(raw, self._to_entry, connector=self.name,
                     max_seconds=self.config.max_duration_hours * 3600)

    def _listed(self, pages: Callable[[], Any]) -> list[Any]:
        """The records of ``pages()`` (a paginator's pages), each once; [] on a 404."""
        try:
            return distinct(pages(), record_id_of)
        except NotFoundError:
            return []

    def _route_filter(self, model: type[F], filters: Mapping[str, Any] | None, *,
                      narrowing: str = COPIES_FILTER) -> tuple[F, Any]:
        """A read's ``filters`` split: the route's keys as ``model``, and the value of the
        key the runtime adds to narrow a target read to the bridge's copies (``narrowing``:
        :data:`~connectors.base.COPIES_FILTER` unless the registry's ``copies_filter``
        names another; None when absent). A key ``model`` does not know is a
        BadRequestError naming it (the config is checked when loaded, so only a caller's
        own mistake gets here)."""
        options = dict(filters or {})
        narrowed = options.pop(narrowing, None)
        try:
            return model.model_validate(options), narrowed
        except ValidationError as error:
            first = error.errors()[0]
            key = ".".join(str(part) for part in first["loc"])
            raise BadRequestError(f"route filter does not fit a {self.system} source: "
                                  f"{key}: {first['msg']}", connector=self.name) from None

    def _written(self, raw: Any, what: str) -> CanonicalEntry:
        """The record a write's answer holds.

        The server said the write was applied (2xx), so the record exists: an answer
        that does not read as one (no id, a field missing) must neither be sent again
        nor be taken as failed. It is an unknown outcome, which the executor settles at
        once by looking the copy up (by its origin, or by its id for an update).
        """
        # Mapped, not judged: a bound such as max_duration_hours is for reading sources;
        # the copy exists whatever it holds.
        try:
            return self._to_entry(raw)
        except RECORD_ERRORS as error:
            raise UnknownOutcomeError(f"{what} answered a record that cannot be read back "
                                      f"({reason(error)})", connector=self.name) from None

