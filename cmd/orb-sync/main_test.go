package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a goroutine outlives the tests: a worker whose
// Stop returns before it exits, a listener never closed, a request never
// answered all show up here rather than in production.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
