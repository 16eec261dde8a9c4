package odata

// ScriptFormat is scriptFormat, for TestScriptFormatPinsTheOutput.
const ScriptFormat = scriptFormat
