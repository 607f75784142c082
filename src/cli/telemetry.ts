/**
 * Telemetry for the CLI's long-running commands (`load`, `demo`):
 *
 * - `--metrics-port P` serves Prometheus metrics on `http://127.0.0.1:P/metrics` while the
 *   command runs;
 * - `--alert-error-rate X` alerts when more than X (0 to 1) of the calls of the last minute
 *   failed (once at least 10 calls finished), evaluated every second and once more at the end;
 * - {@link firedAlerts} lists what fired, for the `--json` summary's `alerts`.
 *
 * ```ts
 * Command.make("demo", { ...telemetryOptions, ... }, (flags) =>
 *   run.pipe(Effect.provide(cliLayer(flags).pipe(Layer.mapError((e) => new UsageError({ message: e.message }))))))
 * ```
 *
 * @internal
 */
import { Options } from "@effect/cli"
import { Data, DateTime, Duration, Effect, Layer, Option } from "effect"
import * as Alerts from "../telemetry/Alerts.js"

/** `--metrics-port` and `--alert-error-rate`, to spread into a command's options. */
export const telemetryOptions = {
  metricsPort: Options.integer("metrics-port").pipe(
    Options.withDescription("Serve Prometheus metrics on http://127.0.0.1:<port>/metrics while the command runs"),
    Options.optional
  ),
  alertErrorRate: Options.float("alert-error-rate").pipe(
    Options.withDescription("Alert when more than this share (0 to 1) of the last minute's calls failed (at least 10 calls)"),
    Options.optional
  )
}

/** A telemetry flag is out of range, or the metrics port cannot be served. */
export class CliTelemetryError extends Data.TaggedError("CliTelemetryError")<{ readonly message: string }> {}

/** The error-rate rule `--alert-error-rate` stands for. */
export const errorRateRule = (above: number): Alerts.ErrorRate =>
  Alerts.errorRate({ above, window: "1 minute", minRequests: 10 })

/**
 * The layer behind the flags: a `GrokAlerts` with `--alert-error-rate`, the `/metrics`
 * server with `--metrics-port`, nothing otherwise.
 *
 * Without a rule there is nothing to evaluate, so no `GrokAlerts` runs: its evaluation reads
 * the whole metric registry every second, and the latency summary's quantiles cost a copy of
 * the remaining samples per distinct value (tens of MB of garbage a second at a few thousand
 * calls). The Prometheus module (and the OpenTelemetry SDK under it) is loaded only when
 * `--metrics-port` asks for it.
 */
export const cliLayer = (flags: {
  readonly metricsPort: Option.Option<number>
  readonly alertErrorRate: Option.Option<number>
}): Layer.Layer<never, CliTelemetryError> => {
  const alerts = Option.match(flags.alertErrorRate, {
    onNone: () => Layer.empty,
    onSome: (rate) =>
      Alerts.layer({ rules: [errorRateRule(rate)], interval: Duration.seconds(1) }).pipe(
        Layer.mapError((error) => new CliTelemetryError({ message: `--alert-error-rate: ${error.message}` }))
      )
  })
  const metrics = Option.match(flags.metricsPort, {
    onNone: () => Layer.empty,
    onSome: (port) =>
      Layer.unwrapEffect(
        Effect.map(Effect.promise(() => import("../telemetry/Prometheus.js")), (Prometheus) => Layer.discard(Prometheus.layer({ port })))
      ).pipe(
        Layer.mapError((error) => new CliTelemetryError({ message: `--metrics-port: ${error.message}` }))
      )
  })
  return Layer.merge(alerts, metrics)
}

/** An alert as the `--json` summaries list it. Public API: keep the fields. */
export interface AlertJson {
  readonly rule: string
  readonly message: string
  /** ISO 8601, UTC. */
  readonly at: string
}

export const alertJson = (alert: Alerts.Alert): AlertJson => ({
  rule: alert.rule,
  message: alert.message,
  at: DateTime.formatIso(DateTime.unsafeMake(alert.at))
})

/**
 * Evaluate the rules one last time (a short run may end between two evaluations) and list
 * every alert that fired; empty without a `GrokAlerts` service.
 */
export const firedAlerts: Effect.Effect<ReadonlyArray<AlertJson>> = Effect.flatMap(
  Effect.serviceOption(Alerts.GrokAlerts),
  Option.match({
    onNone: () => Effect.succeed([]),
    onSome: (alerts) => Effect.zipRight(alerts.evaluate, Effect.map(alerts.fired, (fired) => fired.map(alertJson)))
  })
)
