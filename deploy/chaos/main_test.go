package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a goroutine outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestSmokeRun runs a small slice of the fault suite (kill -9, duplicates
// and shuffling, the hostile corpus) against the real binary, so that
// `make chaos` keeps working: each must pass, with events acknowledged.
func TestSmokeRun(t *testing.T) {
	var out bytes.Buffer
	ok, err := run(context.Background(), config{only: []string{"kill9", "dup", "hostile"}, scale: 0.1, soak: 0, stdout: &out, moduleAt: "../.."})
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Fatal("a scenario failed")
	}
	for _, want := range []string{"PASS 1 kill9", "PASS 5 dup", "PASS 6 hostile", "PASS 9 rebuild"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q line", want)
		}
	}
	if strings.Contains(out.String(), "acked=0 ") {
		t.Error("a scenario acknowledged nothing: it tested nothing")
	}
}
