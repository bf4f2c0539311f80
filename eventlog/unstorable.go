package eventlog

import (
	"fmt"
	"strings"
)

// UnstorableDeepBody and UnstorableLongIDBody are well-formed webhook bodies
// (id as given) that PostgreSQL can never store: a field nested 100,000
// deep exceeds its stack depth (SQLSTATE 54001), and an 8,000-character
// customer id that does not compress exceeds the resource index's row size
// (54000). Tests and the fault suite use them to check that such an event
// is refused with a 4xx, never 503.
func UnstorableDeepBody(id string) []byte {
	return fmt.Appendf(nil, `{"id":%q,"type":"customer.edited","created_at":"2025-01-08T08:19:20Z","customer":{"id":"c_deep","x":%s%s}}`,
		id, strings.Repeat("[", 100000), strings.Repeat("]", 100000))
}

// UnstorableLongIDBody: see UnstorableDeepBody.
func UnstorableLongIDBody(id string) []byte {
	return fmt.Appendf(nil, `{"id":%q,"type":"customer.edited","created_at":"2025-01-08T08:19:20Z","customer":{"id":%q}}`,
		id, incompressible(8000))
}

// incompressible is n characters from a fixed pseudo-random sequence.
func incompressible(n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var b strings.Builder
	x := uint64(88172645463325252)
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b.WriteByte(letters[x%uint64(len(letters))])
	}
	return b.String()
}
