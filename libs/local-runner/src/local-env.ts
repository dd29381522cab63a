// Imported first by the local runner: Powertools reads these when the handlers' modules load, and a
// local run wants quiet logs, no metrics on stdout and no tracing.
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.POWERTOOLS_TRACE_ENABLED ??= 'false';
process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
process.env.AWS_REGION ??= 'us-east-1';
// The SDK warns on every start that Node 20 support ends in 2027: the runner says it once in the README.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
