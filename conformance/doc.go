// Package conformance drives the official Microsoft Graph Go SDK
// (github.com/microsoftgraph/msgraph-sdk-go) against a real callvault
// binary. It is its own module because the SDK takes minutes and gigabytes
// to compile: the main module's tests stay quick, and .ci/run runs both.
package conformance
