"""What the CPU profiles of each profiled service are made of: call stacks and weights.

Stacks are written root first, frames separated by ``;`` (as folded stacks are), with
the function names the runtime's profiler reports: Go's package-qualified names
(``payment/internal/fraud.(*VelocityRule).scanWindow``), Java's ``class.method`` as
async-profiler writes them (plus JVM-internal C++ frames for GC and JIT), Node's
function names with the script they come from. A frame may carry its file after an
``@`` (``handleRequest@/app/server.js``); otherwise the file is derived from the name as
each toolchain lays files out (``/usr/local/go/src/…``, ``/go/pkg/mod/…``, ``/app/…``,
``Foo.java``).

``BASE`` stacks have weights: the service's healthy CPU mix. A service may also have
``CULPRIT`` stacks, all running through the scenario's culprit function: the pprof writer
gives them the scenario's share of the samples (``CulpritCode.share``) and the base
stacks the rest. The culprit function appears in no other service's stacks (a test
checks it).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

_G = "runtime.goexit"
_GC_GO = (
    (8, f"{_G};runtime.gcBgMarkWorker;runtime.systemstack;runtime.gcBgMarkWorker.func2;"
        "runtime.gcDrain;runtime.scanobject"),
    (3, f"{_G};runtime.gcBgMarkWorker;runtime.systemstack;runtime.gcBgMarkWorker.func2;"
        "runtime.gcDrain;runtime.markroot;runtime.scanstack"),
    (4, "runtime.mcall;runtime.park_m;runtime.schedule;runtime.findRunnable;runtime.netpoll;"
        "runtime.epollwait"),
    (2, "runtime.mcall;runtime.park_m;runtime.schedule;runtime.findRunnable;runtime.stealWork"),
    (1, f"{_G};runtime.bgsweep;runtime.sweepone"),
    (1, "runtime.morestack;runtime.newstack;runtime.copystack"),
    (2, f"{_G};go.opentelemetry.io/otel/sdk/trace.(*batchSpanProcessor).processQueue;"
        "go.opentelemetry.io/otel/sdk/trace.(*batchSpanProcessor).exportSpans;"
        "go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc.(*client).UploadTraces;"
        "google.golang.org/protobuf/proto.MarshalOptions.marshal"),
)  # fmt: skip
_NET_GO = (
    (5, f"{_G};net/http.(*conn).serve;net/http.(*conn).readRequest;net/http.readRequest;"
        "net/textproto.(*Reader).ReadMIMEHeader"),
    (4, f"{_G};net/http.(*conn).serve;net/http.(*response).finishRequest;bufio.(*Writer).Flush;"
        "net/http.checkConnErrorWriter.Write;net.(*conn).Write;internal/poll.(*FD).Write;"
        "syscall.Syscall;syscall.RawSyscall6"),
)  # fmt: skip
_GRPC = (
    f"{_G};google.golang.org/grpc.(*Server).serveStreams.func2.1;"
    "google.golang.org/grpc.(*Server).handleStream;google.golang.org/grpc.(*Server).processUnaryRPC"
)
_GRPC_IO = (
    (7, f"{_G};google.golang.org/grpc/internal/transport.(*http2Server).HandleStreams;"
        "golang.org/x/net/http2.(*Framer).ReadFrame;golang.org/x/net/http2.readFrameHeader;"
        "io.ReadAtLeast;net.(*conn).Read;internal/poll.(*FD).Read;syscall.Syscall;"
        "syscall.RawSyscall6"),
    (5, f"{_G};google.golang.org/grpc/internal/transport.(*loopyWriter).run;"
        "google.golang.org/grpc/internal/transport.(*bufWriter).Flush;net.(*conn).Write;"
        "internal/poll.(*FD).Write;syscall.Syscall;syscall.RawSyscall6"),
    (5, f"{_G};google.golang.org/grpc.(*Server).sendResponse;"
        "google.golang.org/grpc/internal/transport.(*http2Server).Write;"
        "google.golang.org/protobuf/proto.MarshalOptions.marshal"),
)  # fmt: skip

# ------------------------------------------------------------------------------ payment

_CHARGE = (
    f"{_G};net/http.(*conn).serve;net/http.serverHandler.ServeHTTP;net/http.(*ServeMux).ServeHTTP;"
    "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp.(*middleware).serveHTTP;"
    "net/http.HandlerFunc.ServeHTTP;main.(*Server).Charge"
)
_FRAUD = f"{_CHARGE};payment/internal/fraud.(*RuleEngine).Evaluate"
_VELOCITY = (
    f"{_FRAUD};payment/internal/fraud.(*VelocityRule).Check;"
    "payment/internal/fraud.(*VelocityRule).scanWindow"
)
_TLS = "crypto/tls.(*Conn).Write;crypto/tls.(*Conn).writeRecordLocked;crypto/aes.(*gcmAsm).Seal"

PAYMENT = (
    (7, f"{_CHARGE};encoding/json.(*Decoder).Decode;encoding/json.(*decodeState).object;"
        "encoding/json.(*decodeState).literalStore"),
    (4, f"{_CHARGE};encoding/json.Marshal;encoding/json.(*encodeState).reflectValue;"
        "encoding/json.structEncoder.encode"),
    (3, f"{_CHARGE};runtime.mallocgc;runtime.nextFreeFast"),
    (2, f"{_CHARGE};main.maskCard;strings.Repeat"),
    (3, f"{_FRAUD};payment/internal/fraud.(*AmountRule).Check"),
    (3, f"{_FRAUD};payment/internal/fraud.(*GeoRule).Check;net/netip.ParseAddr"),
    (2, f"{_FRAUD};payment/internal/fraud.(*BlocklistRule).Check;runtime.mapaccess2_faststr"),
    (4, f"{_CHARGE};payment/internal/gateway.(*Client).Authorize;net/http.(*Client).Do;"
        "net/http.(*Client).do;net/http.(*Transport).roundTrip;net/http.(*persistConn).roundTrip"),
    (6, f"{_G};net/http.(*persistConn).writeLoop;net/http.(*Request).write;bufio.(*Writer).Flush;"
        f"{_TLS}"),
    (5, f"{_G};net/http.(*persistConn).readLoop;bufio.(*Reader).Peek;bufio.(*Reader).fill;"
        "crypto/tls.(*Conn).Read;crypto/tls.(*Conn).readRecordOrCCS;crypto/aes.(*gcmAsm).Open"),
    (3, f"{_G};net/http.(*persistConn).readLoop;bufio.(*Reader).Peek;bufio.(*Reader).fill;"
        "net.(*conn).Read;internal/poll.(*FD).Read;syscall.Syscall;syscall.RawSyscall6"),
    *_NET_GO,
    *_GC_GO,
)  # fmt: skip

PAYMENT_CULPRIT = (
    (66, _VELOCITY),
    (12, f"{_VELOCITY};payment/internal/fraud.(*slidingWindow).Slide"),
    (10, f"{_VELOCITY};runtime.mapaccess2_faststr"),
    (7, f"{_VELOCITY};runtime.mallocgc;runtime.nextFreeFast"),
    (5, f"{_VELOCITY};time.Time.Sub"),
)

# ----------------------------------------------------------------------------- checkout

_PLACE = (
    f"{_GRPC};checkout/genproto/shop._CheckoutService_PlaceOrder_Handler;"
    "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc."
    "UnaryServerInterceptor.func1;checkout/internal/service.(*CheckoutService).PlaceOrder"
)
CHECKOUT = (
    (8, f"{_PLACE};checkout/internal/service.(*CheckoutService).prepareOrder;"
        "checkout/internal/money.Sum"),
    (6, f"{_PLACE};google.golang.org/grpc.(*ClientConn).Invoke;google.golang.org/grpc.invoke;"
        "google.golang.org/grpc.(*clientStream).SendMsg;"
        "google.golang.org/protobuf/proto.MarshalOptions.marshal"),
    (5, f"{_PLACE};checkout/internal/payment.(*Client).Charge;net/http.(*Client).Do;"
        "net/http.(*Client).do;net/http.(*Transport).roundTrip;net/http.(*persistConn).roundTrip"),
    (4, f"{_PLACE};checkout/internal/payment.(*Client).Charge;encoding/json.Marshal;"
        "encoding/json.(*encodeState).reflectValue"),
    (3, f"{_PLACE};log/slog.(*Logger).log;log/slog.(*JSONHandler).Handle"),
    (3, f"{_PLACE};runtime.mallocgc;runtime.nextFreeFast"),
    *_GRPC_IO,
    *_GC_GO,
)  # fmt: skip

# ---------------------------------------------------------------------- product-catalog

_CAT = f"{_GRPC};catalog/genproto/shop._ProductCatalogService_"
CATALOG = (
    (10, f"{_CAT}ListProducts_Handler;catalog/internal/server.(*Catalog).ListProducts;"
         "github.com/jackc/pgx/v5.(*Conn).Query;github.com/jackc/pgx/v5/pgconn.(*PgConn).ExecParams"),
    (8, f"{_CAT}ListProducts_Handler;catalog/internal/server.(*Catalog).ListProducts;"
        "github.com/jackc/pgx/v5.(*baseRows).Scan;"
        "github.com/jackc/pgx/v5/pgtype.scanPlanTextAnyToString.Scan"),
    (6, f"{_CAT}ListProducts_Handler;catalog/internal/server.(*Catalog).ListProducts;"
        "google.golang.org/protobuf/proto.MarshalOptions.marshal"),
    (5, f"{_CAT}SearchProducts_Handler;catalog/internal/server.(*Catalog).SearchProducts;"
        "strings.ToLower"),
    (4, f"{_CAT}GetProduct_Handler;catalog/internal/server.(*Catalog).GetProduct;"
        "github.com/jackc/pgx/v5.(*Conn).QueryRow"),
    (3, f"{_G};catalog/internal/recs.(*Refresher).run;encoding/json.Unmarshal;"
        "encoding/json.(*decodeState).object"),
    *_GRPC_IO,
    *_GC_GO,
)  # fmt: skip

# --------------------------------------------------------------------------------- Java

_JWORK = (
    "java.lang.Thread.run;java.util.concurrent.ThreadPoolExecutor$Worker.run;"
    "java.util.concurrent.ThreadPoolExecutor.runWorker;io.grpc.internal.SerializingExecutor.run;"
    "io.grpc.internal.ServerImpl$JumpToApplicationThreadServerStreamListener$1HalfClosed."
    "runInContext;io.grpc.stub.ServerCalls$UnaryServerCallHandler$UnaryServerCallListener."
    "onHalfClose"
)
_NETTY = (
    "java.lang.Thread.run;io.netty.util.concurrent.FastThreadLocalRunnable.run;"
    "io.netty.util.internal.ThreadExecutorMap$2.run;io.netty.channel.nio.NioEventLoop.run"
)
_JVM = (
    (8, f"{_NETTY};io.netty.channel.nio.NioEventLoop.processSelectedKeys;"
        "io.netty.channel.nio.AbstractNioByteChannel$NioByteUnsafe.read;"
        "io.netty.handler.codec.http2.Http2ConnectionHandler.decode"),
    (5, f"{_NETTY};io.netty.channel.nio.NioEventLoop.select;sun.nio.ch.EPollSelectorImpl.doSelect;"
        "sun.nio.ch.EPoll.wait"),
    (7, "[GC Thread#0];G1ParTask::work;G1ParScanThreadState::trim_queue_to_threshold"),
    (3, "[C2 CompilerThread0];C2Compiler::compile_method;Compile::Compile"),
    (3, "java.lang.Thread.run;io.opentelemetry.sdk.trace.export.BatchSpanProcessor$Worker.run;"
        "io.opentelemetry.exporter.internal.marshal.Marshaler.writeBinaryTo"),
)  # fmt: skip
_GETCART = f"{_JWORK};com.shop.cart.CartServiceImpl.getCart;com.shop.cart.RedisCartStore.load"
CART = (
    (9, f"{_GETCART};io.lettuce.core.AbstractRedisAsyncCommands.hgetall;"
        "io.lettuce.core.protocol.DefaultEndpoint.write"),
    (7, f"{_GETCART};com.fasterxml.jackson.databind.ObjectMapper.readValue;"
        "com.fasterxml.jackson.databind.deser.BeanDeserializer.deserialize"),
    (6, f"{_JWORK};com.shop.cart.CartServiceImpl.addItem;com.shop.cart.RedisCartStore.save;"
        "com.fasterxml.jackson.databind.ObjectMapper.writeValueAsString"),
    (5, f"{_JWORK};com.shop.cart.CartServiceImpl.getCart;com.shop.cart.proto.Cart.writeTo;"
        "com.google.protobuf.CodedOutputStream$ArrayEncoder.writeString"),
    (5, "java.lang.Thread.run;io.lettuce.core.protocol.CommandHandler.channelRead;"
        "io.lettuce.core.protocol.RedisStateMachine.decode"),
    *_JVM,
)  # fmt: skip
_CREATE = f"{_JWORK};com.shop.order.OrderServiceImpl.createOrder"
ORDER = (
    (9, f"{_CREATE};com.shop.order.OrderRepository.insert;"
        "org.postgresql.jdbc.PgPreparedStatement.executeUpdate;"
        "org.postgresql.core.v3.QueryExecutorImpl.execute"),
    (6, f"{_CREATE};org.apache.kafka.clients.producer.KafkaProducer.send;"
        "org.apache.kafka.clients.producer.KafkaProducer.doSend;"
        "org.apache.kafka.common.serialization.StringSerializer.serialize"),
    (5, f"{_CREATE};com.shop.order.OrderMapper.toEntity;java.math.BigDecimal.multiply"),
    (6, "java.lang.Thread.run;org.apache.kafka.common.utils.KafkaThread.run;"
        "org.apache.kafka.clients.producer.internals.Sender.run;"
        "org.apache.kafka.clients.NetworkClient.poll"),
    (4, "java.lang.Thread.run;com.zaxxer.hikari.pool.HouseKeeper.run;"
        "com.zaxxer.hikari.pool.HikariPool.fillPool"),
    *_JVM,
)  # fmt: skip

# ------------------------------------------------------------------------------ Node.js

_TICK = "processTicksAndRejections@node:internal/process/task_queues"
_REQ = f"{_TICK};handleRequest@/app/server.js"
FRONTEND = (
    (10, f"{_REQ};renderProductList@/app/.next/server/pages/products.js;"
         "renderToString@/app/node_modules/react-dom/cjs/react-dom-server.node.production.js"),
    (7, f"{_REQ};renderProductPage@/app/.next/server/pages/products/[id].js;"
        "renderToString@/app/node_modules/react-dom/cjs/react-dom-server.node.production.js"),
    (6, f"{_REQ};checkoutHandler@/app/.next/server/pages/api/checkout.js;"
        "placeOrder@/app/gateways/rpc/checkout.js;"
        "Client.makeUnaryRequest@/app/node_modules/@grpc/grpc-js/build/src/client.js"),
    (4, f"{_REQ};searchHandler@/app/.next/server/pages/api/search.js;JSON.stringify"),
    (5, "parserOnHeadersComplete@node:_http_common;parserOnIncoming@node:_http_server;"
        "emit@node:events"),
    (4, "onStreamRead@node:internal/stream_base_commons;"
        "Http2Session.onSessionRead@/app/node_modules/@grpc/grpc-js/build/src/transport.js;"
        "decodeMessage@/app/node_modules/protobufjs/src/decoder.js"),
    (3, "listOnTimeout@node:internal/timers;processTimers@node:internal/timers;"
        "PeriodicExportingMetricReader._runOnce@/app/node_modules/@opentelemetry/sdk-metrics/"
        "build/src/export/PeriodicExportingMetricReader.js"),
    (6, "(garbage collector)"),
    (3, "(program)"),
)  # fmt: skip


@dataclass(frozen=True)
class Catalog:
    """The profile makeup of one service."""

    binary: str
    """Main mapping (the executable)."""
    base: tuple[tuple[float, str], ...]
    """Healthy CPU mix: (weight, stack root→leaf)."""
    culprit: tuple[tuple[float, str], ...] = ()
    """Stacks through the scenario's culprit function (their weights are relative)."""


CATALOGS: dict[str, Catalog] = {
    "frontend": Catalog("/usr/local/bin/node", FRONTEND),
    "checkout": Catalog("/app/checkout", CHECKOUT),
    "cart": Catalog("/usr/lib/jvm/java-21-openjdk/lib/server/libjvm.so", CART),
    "product-catalog": Catalog("/app/product-catalog", CATALOG),
    "payment": Catalog("/app/payment", PAYMENT, PAYMENT_CULPRIT),
    "order": Catalog("/usr/lib/jvm/java-21-openjdk/lib/server/libjvm.so", ORDER),
}
"""Profiled services (``topology.Service.profiled``) and what their profiles hold."""


def crc(text: str) -> int:
    """A stable small hash (Python's ``hash`` changes per process)."""
    return zlib.crc32(text.encode())


def frame_info(frame: str) -> tuple[str, str, int, int]:
    """``(function, file, start line, sample line)`` of a frame written ``name[@file]``."""
    name, _, file = frame.partition("@")
    if not file:
        file = _file_of(name)
    start = 20 + crc(name) % 480
    return name, file, start, start + 3 + crc(name + "#") % 60


_JAVA_ROOTS = frozenset({"java", "javax", "jdk", "sun", "io", "org", "com"})
_APP_MODULES = frozenset({"payment", "checkout", "catalog"})


def _file_of(name: str) -> str:
    """Where a toolchain puts the source of a function (Go, Java); '' when unknown."""
    if name.startswith(("[", "(")) or "::" in name:
        return ""  # JVM internals, V8 pseudo-frames
    if "/" not in name:
        parts = name.split(".")
        if len(parts) >= 3 and parts[0] in _JAVA_ROOTS:
            return parts[-2].split("$")[0] + ".java"
    head, _, tail = name.rpartition("/")
    pkg = (head + "/" if head else "") + tail.split(".")[0]
    last = pkg.rsplit("/", 1)[-1]
    first = pkg.split("/")[0]
    if pkg == "main":
        return "/app/main.go"
    if first in _APP_MODULES:
        return f"/app/{pkg.partition('/')[2] or pkg}/{last}.go"
    if "." in first:
        return f"/go/pkg/mod/{pkg}/{last}.go"
    if name[:1].isupper():
        return ""  # a V8 builtin such as JSON.stringify
    return f"/usr/local/go/src/{pkg}/{last}.go"
