"""steer_trio: trio-native streaming from LLM providers.

Everything public is importable from here; the submodules are private.
"""

import logging
from typing import TYPE_CHECKING

from ._client import SteerClient
from ._config import DEBUG_OPTIONS, FAST_OPTIONS, JSON_MODE_OPTIONS, StreamingOptions
from ._errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    CallbackError,
    ClientClosedError,
    ConfigurationError,
    ConnectTimeout,
    DeadlineExceeded,
    FirstTokenTimeout,
    IdleTimeout,
    MissingAPIKeyError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    ResponseTooLargeError,
    ResponseValidationError,
    ServerError,
    SSEEventTooLargeError,
    SteerError,
    StreamIncompleteError,
    StreamInterruptedError,
    StreamNotFinishedError,
    StreamProtocolError,
    StreamTimeoutError,
    UnknownModelError,
)
from ._events import (
    StreamCompleteEvent,
    StreamDelta,
    StreamDeltaEvent,
    StreamErrorEvent,
    StreamEvent,
    StreamJSONEvent,
    StreamStartEvent,
    StreamToolCallEvent,
    StreamUsageEvent,
)
from ._processing._pricing import (
    CostBreakdown,
    CostResult,
    ModelPrice,
    PriceTable,
    load_prices,
    register_price,
)
from ._public import publish
from ._response import ChoiceResult, StreamingResponse, ToolCall, UsageDict
from ._retry import RetryPolicy
from ._sse import ServerSentEvent, SSEDecoder
from ._stream import TextStream
from ._transport import InsecureTransportWarning
from ._usage import Usage

if TYPE_CHECKING:
    from ._batch._engines import BATCH_DISCOUNTS, ProviderBatchJob, ProviderBatchStatus
    from ._batch._runner import Batch
    from ._batch._types import (
        BatchEvent,
        BatchInputError,
        BatchProgress,
        BatchRequest,
        BatchResult,
        BatchStopped,
    )
    from ._jsonstream import (
        IncrementalJSONParser,
        JSONNestingError,
        JSONPathDone,
        JSONStreamError,
        JSONTruncatedError,
    )
    from ._processing._processor import (
        EventFilter,
        EventProcessor,
        EventTransformer,
        create_event_processor,
    )

#: Loaded on first use, from the module that defines each: batch jobs are a package of
#: their own (runner, worker pool, provider engines, job files), the incremental JSON
#: parser serves JSON mode and tool calls, and event processors are built by the user;
#: a script that only streams text loads none of them.
_LAZY = {
    "BATCH_DISCOUNTS": "._batch._engines",
    "ProviderBatchJob": "._batch._engines",
    "ProviderBatchStatus": "._batch._engines",
    "Batch": "._batch._runner",
    "BatchEvent": "._batch._types",
    "BatchInputError": "._batch._types",
    "BatchProgress": "._batch._types",
    "BatchRequest": "._batch._types",
    "BatchResult": "._batch._types",
    "BatchStopped": "._batch._types",
    "IncrementalJSONParser": "._jsonstream",
    "JSONNestingError": "._jsonstream",
    "JSONPathDone": "._jsonstream",
    "JSONStreamError": "._jsonstream",
    "JSONTruncatedError": "._jsonstream",
    "EventFilter": "._processing._processor",
    "EventProcessor": "._processing._processor",
    "EventTransformer": "._processing._processor",
    "create_event_processor": "._processing._processor",
}

#: The streaming guide's name for the client.
SteerLLMClient = SteerClient

__version__ = "0.1.0"

__all__ = [
    "BATCH_DISCOUNTS",
    "DEBUG_OPTIONS",
    "FAST_OPTIONS",
    "JSON_MODE_OPTIONS",
    "APIConnectionError",
    "AuthenticationError",
    "BadRequestError",
    "Batch",
    "BatchEvent",
    "BatchInputError",
    "BatchProgress",
    "BatchRequest",
    "BatchResult",
    "BatchStopped",
    "CallbackError",
    "ChoiceResult",
    "ClientClosedError",
    "ConfigurationError",
    "ConnectTimeout",
    "CostBreakdown",
    "CostResult",
    "DeadlineExceeded",
    "EventFilter",
    "EventProcessor",
    "EventTransformer",
    "FirstTokenTimeout",
    "IdleTimeout",
    "IncrementalJSONParser",
    "InsecureTransportWarning",
    "JSONNestingError",
    "JSONPathDone",
    "JSONStreamError",
    "JSONTruncatedError",
    "MissingAPIKeyError",
    "ModelPrice",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "PriceTable",
    "ProviderBatchJob",
    "ProviderBatchStatus",
    "ProviderError",
    "RateLimitError",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "RetryPolicy",
    "SSEDecoder",
    "SSEEventTooLargeError",
    "ServerError",
    "ServerSentEvent",
    "SteerClient",
    "SteerError",
    "SteerLLMClient",
    "StreamCompleteEvent",
    "StreamDelta",
    "StreamDeltaEvent",
    "StreamErrorEvent",
    "StreamEvent",
    "StreamIncompleteError",
    "StreamInterruptedError",
    "StreamJSONEvent",
    "StreamNotFinishedError",
    "StreamProtocolError",
    "StreamStartEvent",
    "StreamTimeoutError",
    "StreamToolCallEvent",
    "StreamUsageEvent",
    "StreamingOptions",
    "StreamingResponse",
    "TextStream",
    "ToolCall",
    "UnknownModelError",
    "Usage",
    "UsageDict",
    "create_event_processor",
    "load_prices",
    "register_price",
]

publish(globals(), [name for name in __all__ if name not in _LAZY], __name__)

if not TYPE_CHECKING:  # type checkers see the imports above; a typo stays an error

    def __getattr__(name: str) -> object:
        if name not in _LAZY:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        import importlib

        # A module's names all at once: each prints and pickles as steer_trio.X.
        module = importlib.import_module(_LAZY[name], __name__)
        names = [n for n, m in _LAZY.items() if m == _LAZY[name]]
        loaded = {n: getattr(module, n) for n in names}
        publish(loaded, names, __name__)
        globals().update(loaded)
        return loaded[name]

    def __dir__() -> list[str]:
        return sorted(set(globals()) | set(__all__))


# A library's logger stays silent until the application configures logging (the
# standard library's advice): no "last resort" lines on stderr from us.
logging.getLogger(__name__).addHandler(logging.NullHandler())
