"""The Temporal client every aims process uses: the same sealed data converter for the API and
the worker (a payload one writes the other reads; nobody without the key reads or forges one),
mTLS or an API key when configured, this process's runtime (its metrics go to `/metrics`) and,
when tracing is on, the OpenTelemetry plugin."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.service import TLSConfig

from aims.observability import temporal_runtime, tracing_plugins
from aims.payloads import sealed_converter
from aims.settings import Settings, SettingsError


async def connect(settings: Settings) -> Client:
    keys = settings.require_payload_keys()
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=sealed_converter(keys, accept_plaintext=settings.payload_plaintext),
        tls=tls_config(settings),
        api_key=settings.temporal_api_key,
        runtime=temporal_runtime(),
        plugins=tracing_plugins(),
    )


def tls_config(settings: Settings) -> TLSConfig | bool:
    """TEMPORAL_TLS_CA (the server's CA), TEMPORAL_TLS_CERT + TEMPORAL_TLS_KEY (this client, mTLS);
    an API key alone means TLS with the system's CAs (Temporal Cloud)."""
    cert, key, ca = settings.temporal_tls_cert, settings.temporal_tls_key, settings.temporal_tls_ca
    if (cert is None) != (key is None):
        raise SettingsError("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together (mTLS)")
    if cert is None and key is None and ca is None:
        return settings.temporal_api_key is not None
    try:
        return TLSConfig(
            client_cert=cert.read_bytes() if cert else None,
            client_private_key=key.read_bytes() if key else None,
            server_root_ca_cert=ca.read_bytes() if ca else None,
        )
    except OSError as error:
        raise SettingsError(f"Temporal TLS: cannot read {error.filename}") from None
