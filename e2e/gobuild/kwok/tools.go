//go:build tools

// Package tools pins kwok's command so `go mod tidy` keeps its dependencies.
// kwok fakes nodes and pod status for the throwaway test cluster.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
