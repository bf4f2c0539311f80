package console

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a goroutine outlives the tests (the webhook
// rate sampler must stop with its context).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
