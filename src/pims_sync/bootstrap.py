"""The composition root: Settings → concrete adapters → a Services bundle."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pims_sync.adapters.queue.inprocess import InProcessQueue
from pims_sync.adapters.sql.api_keys import SqlApiKeyStore
from pims_sync.adapters.sql.booking import SqlBookingConfigStore
from pims_sync.adapters.sql.cases import SqlCaseStore
from pims_sync.adapters.sql.clinics import SqlClinicStore
from pims_sync.adapters.sql.engine import create_async_db_engine
from pims_sync.adapters.sql.health import SqlClinicHealth
from pims_sync.adapters.sql.holds import SqlHoldStore
from pims_sync.adapters.sql.mirror import SqlScheduleMirror
from pims_sync.adapters.sql.outbox import SqlEventLog
from pims_sync.adapters.sql.request_usage import SqlRequestLedger
from pims_sync.adapters.sql.runs import SqlRunStore
from pims_sync.adapters.sql.schedules import SqlFireStore, SqlRunRecovery, SqlScheduleStore
from pims_sync.adapters.sql.vault import SqlCredentialVault
from pims_sync.adapters.sql.webhooks import SqlWebhookStore
from pims_sync.adapters.sql.write_requests import SqlWriteRequestStore
from pims_sync.adapters.webhooks.addresses import check_destination
from pims_sync.adapters.webhooks.http import HttpWebhookSender
from pims_sync.domain.schedules import ScheduleRules
from pims_sync.metrics import Metrics
from pims_sync.ports.api_keys import ApiKeyStore
from pims_sync.ports.booking import BookingConfigStore
from pims_sync.ports.clinics import ClinicStore
from pims_sync.ports.credentials import CredentialVault
from pims_sync.ports.events import EventLog
from pims_sync.ports.health import ClinicHealthStore
from pims_sync.ports.holds import HoldStore
from pims_sync.ports.mirror import ScheduleMirror
from pims_sync.ports.provider import ClinicLogin, PimsProvider, PimsWriteProvider
from pims_sync.ports.queue import JobHandler, WorkerQueue
from pims_sync.ports.request_budget import DailyBudget
from pims_sync.ports.schedules import FireStore, RunRecovery, ScheduleStore
from pims_sync.ports.store import CaseStore, RunStore
from pims_sync.ports.webhooks import WebhookSender, WebhookStore
from pims_sync.ports.write_requests import WriteRequestStore
from pims_sync.settings import Settings
from pims_sync.sync.availability import AvailabilityDesk
from pims_sync.sync.booking_create import BookingTools
from pims_sync.sync.booking_desk import BookingDesk
from pims_sync.sync.booking_reflect import Reflection
from pims_sync.sync.booking_sessions import BookingSessions
from pims_sync.sync.exactly_once import WriteLedger
from pims_sync.sync.refresh import MirrorRefresher
from pims_sync.sync.service import HEARTBEAT_SECONDS, SyncService
from pims_sync.webhooks.delivery import Deliverer, DeliveryOptions
from pims_sync.webhooks.endpoints import WebhookAdmin

QUEUE_GRACE_MARGIN_SECONDS = 10.0


@dataclass
class Services:
    """Everything the entry points (API, CLI, worker) need, built once per process."""

    settings: Settings
    engine: AsyncEngine
    clinics: ClinicStore
    api_keys: ApiKeyStore
    cases: CaseStore
    runs: RunStore
    schedules: ScheduleStore
    fires: FireStore
    recovery: RunRecovery
    # The outbox: the clinics' committed events (the feed, webhooks, clinic.* events).
    events: EventLog
    # Webhook endpoints and their delivery log (secrets sealed with ENCRYPTION_KEY).
    webhooks: WebhookStore
    # Pauses, failures in a row, freshness (docs/freshness.md).
    health: ClinicHealthStore
    # PIMS requests and logins per clinic and UTC day (the daily budgets).
    ledger: SqlRequestLedger
    # The schedule mirror: the clinics' calendars as inbound read them (availability).
    mirror: ScheduleMirror
    # Each clinic's booking rules (the defaults until some are set).
    booking: BookingConfigStore
    # Short holds on free slots (availability).
    holds: HoldStore
    # Booking writes sent to the PIMS, by Idempotency-Key (docs/booking.md).
    write_requests: WriteRequestStore
    credential_vault: CredentialVault | None = None
    webhook_http: HttpWebhookSender | None = None
    pims_provider: PimsProvider | None = None
    sync_service: SyncService | None = None
    availability_desk: AvailabilityDesk | None = None
    booking_desk: BookingDesk | None = None
    # The one-off PIMS login check (None: IDEXX Neo, a fresh login); tests give a fake's.
    login_checker: Callable[[ClinicLogin], Awaitable[float]] | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    metrics: Metrics = field(default_factory=Metrics)
    # Set by `serve` when this process runs the scheduler (the status endpoint says so).
    scheduler_running: bool = False

    @property
    def vault(self) -> CredentialVault:
        """The credentials vault; ConfigError when ENCRYPTION_KEY is not set."""
        # Built on first use so commands that never touch credentials (db upgrade,
        # the demo's own set-up) start without a key.
        if self.credential_vault is None:
            self.credential_vault = SqlCredentialVault(
                self.engine,
                self.settings.require_encryption_key(),
                self.settings.previous_encryption_key(),
                allow_private_base_url=self.settings.pims_allow_private_base_url,
            )
        return self.credential_vault

    @property
    def provider(self) -> PimsProvider:
        """The IDEXX Neo provider, built on first use (Playwright is imported only then)."""
        if self.pims_provider is None:
            from pims_sync.adapters.idexx.config import IdexxOptions
            from pims_sync.adapters.idexx.provider import IdexxProvider
            from pims_sync.adapters.sql.session_cache import SqlSessionCache

            cache = SqlSessionCache(self.engine, self.settings.require_encryption_key())
            self.pims_provider = IdexxProvider(
                IdexxOptions.from_settings(self.settings), session_cache=cache, metrics=self.metrics
            )
        return self.pims_provider

    async def check_login(self, login: ClinicLogin) -> float:
        """Log in once (never from or into the session cache); the seconds it took."""
        if self.login_checker is not None:
            return await self.login_checker(login)
        # Imported here: a process that never checks a login never loads Playwright.
        from pims_sync.adapters.idexx.config import IdexxOptions
        from pims_sync.adapters.idexx.provider import check_credentials

        return await check_credentials(IdexxOptions.from_settings(self.settings), login)

    @property
    def sync(self) -> SyncService:
        """The sync pipeline, built on first use (it needs the provider and the vault)."""
        if self.sync_service is None:
            ledger = self.ledger
            self.sync_service = SyncService(
                clinics=self.clinics,
                credentials=self.vault,
                provider=self.provider,
                cases=self.cases,
                runs=self.runs,
                metrics=self.metrics,
                timeout_seconds=self.settings.sync_timeout_ms / 1000,
                # A live run must never look stale, or a recovery pass marks it abandoned.
                heartbeat_seconds=min(HEARTBEAT_SECONDS, self.settings.run_stale_seconds / 4),
                budget=DailyBudget(ledger, self.settings.pims_daily_request_budget),
                health=self.health,
                logins=ledger,
                login_budget=self.settings.pims_daily_login_budget,
                mirror=self.mirror,
            )
        return self.sync_service

    @property
    def availability(self) -> AvailabilityDesk:
        """Free slots and holds from the mirror and the rules (docs/availability.md)."""
        if self.availability_desk is None:
            self.availability_desk = self.availability_on(lambda: datetime.now(UTC))
        return self.availability_desk

    def availability_on(self, now: Callable[[], datetime]) -> AvailabilityDesk:
        """The availability desk on this clock (the sync pipeline's, when a test moves it).

        A mirror older than AVAILABILITY_MAX_AGE_SECONDS is read again through the sync
        pipeline first (built only then: it needs the provider and the vault).
        """
        settings = self.settings
        refresher = MirrorRefresher(
            sync=lambda: self.sync,
            runs=self.runs,
            mirror=self.mirror,
            deadline_seconds=settings.availability_refresh_deadline_seconds,
        )
        return AvailabilityDesk(
            mirror=self.mirror,
            booking=self.booking,
            holds=self.holds,
            refresher=refresher,
            max_age_seconds=settings.availability_max_age_seconds,
            now=now,
        )

    @property
    def bookings(self) -> BookingDesk:
        """Booking write-back: search, create, cancel, reschedule (docs/booking.md)."""
        if self.booking_desk is None:
            self.booking_desk = self.bookings_on(lambda: datetime.now(UTC))
        return self.booking_desk

    def bookings_on(self, now: Callable[[], datetime]) -> BookingDesk:
        """The booking desk on this clock (the availability desk's, when a test moves it)."""
        settings = self.settings
        sessions = BookingSessions(
            # IDEXX Neo's and the fake's sessions both book (ports/provider.py).
            provider=cast(PimsWriteProvider, self.provider),
            credentials=self.vault,
            health=self.health,
            budget=DailyBudget(self.ledger, settings.pims_daily_request_budget),
            logins=self.ledger,
            login_budget=settings.pims_daily_login_budget,
            now=now,
        )
        tools = BookingTools(
            availability=self.availability_on(now),
            reflection=Reflection(mirror=self.mirror, cases=self.cases),
            now=now,
        )
        return BookingDesk(
            sessions=sessions,
            ledger=WriteLedger(self.write_requests, now=now),
            tools=tools,
            events=self.events,
            now=now,
        )

    @property
    def webhook_sender(self) -> WebhookSender:
        """The process's one HTTP client for webhook deliveries, built on first use."""
        if self.webhook_http is None:
            self.webhook_http = HttpWebhookSender(
                timeout_seconds=self.settings.webhooks_timeout_seconds,
                allow_private=self.settings.webhooks_allow_private,
            )
        return self.webhook_http

    @property
    def webhook_admin(self) -> WebhookAdmin:
        """Adding, listing, removing, testing and replaying endpoints (CLI and API)."""
        allow_private = self.settings.webhooks_allow_private

        async def check(url: str) -> str:
            return await check_destination(url, allow_private=allow_private)

        return WebhookAdmin(
            store=self.webhooks,
            events=self.events,
            sender=self.webhook_sender,
            check=check,
            now=lambda: datetime.now(UTC),
        )

    def deliverer(self) -> Deliverer:
        """What executes delivery jobs in this process."""
        return Deliverer(
            store=self.webhooks,
            events=self.events,
            sender=self.webhook_sender,
            now=lambda: datetime.now(UTC),
            options=DeliveryOptions(retry_scale=self.settings.webhooks_retry_scale),
        )

    async def ping_database(self) -> None:
        """One real database round trip (`SELECT 1`); raises when the database does not answer."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def aclose(self) -> None:
        """Stop running syncs (marking them failed after a grace), close the browser and pool."""
        if self.sync_service is not None:
            await self.sync_service.shutdown()
        if self.pims_provider is not None:
            await self.pims_provider.aclose()
        if self.webhook_http is not None:
            await self.webhook_http.aclose()
        await self.engine.dispose()


def build_services(settings: Settings) -> Services:
    """Wire the adapters the settings ask for."""
    engine = create_async_db_engine(settings.database_url, pool_size=settings.database_pool_size)
    return Services(
        settings=settings,
        engine=engine,
        clinics=SqlClinicStore(engine),
        api_keys=SqlApiKeyStore(engine),
        cases=SqlCaseStore(engine),
        runs=SqlRunStore(engine, stale_after=timedelta(seconds=settings.run_stale_seconds)),
        schedules=SqlScheduleStore(engine),
        fires=SqlFireStore(engine),
        recovery=SqlRunRecovery(engine),
        events=SqlEventLog(engine),
        webhooks=SqlWebhookStore(
            engine, settings.require_encryption_key, settings.previous_encryption_key()
        ),
        health=SqlClinicHealth(engine, ScheduleRules(settings.schedule_min_interval_seconds)),
        ledger=SqlRequestLedger(engine),
        mirror=SqlScheduleMirror(engine),
        booking=SqlBookingConfigStore(engine),
        holds=SqlHoldStore(engine),
        write_requests=SqlWriteRequestStore(engine),
    )


def build_job_queue(settings: Settings, handler: JobHandler) -> WorkerQueue:
    """In-process on SQLite; procrastinate (shared by every process) on Postgres."""
    # Running jobs get the pipeline's grace first (it interrupts them), then this margin.
    grace = settings.shutdown_grace_seconds + QUEUE_GRACE_MARGIN_SECONDS
    if settings.is_sqlite:
        # The same slots as a procrastinate worker: sync jobs and deliveries, each capped.
        slots = {"sync": settings.worker_concurrency, "delivery": settings.webhooks_concurrency}
        return InProcessQueue(handler, grace_seconds=grace, concurrency=slots)
    # Imported here: only Postgres processes need procrastinate.
    from pims_sync.adapters.queue.procrastinate import ProcrastinateQueue

    return ProcrastinateQueue(
        settings.database_url,
        handler,
        stale_seconds=settings.run_stale_seconds,
        pool_size=settings.worker_concurrency + settings.webhooks_concurrency + 3,
        grace_seconds=grace,
        delivery_concurrency=settings.webhooks_concurrency,
    )
