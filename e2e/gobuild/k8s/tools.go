//go:build tools

// Package tools pins the upstream commands this module builds, so `go mod tidy`
// keeps their dependencies. The module exists only to build test binaries.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
