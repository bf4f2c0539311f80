package sql

import (
	"hash/fnv"
	"strings"
)

// Every advisory lock orb-sync takes is named by a string and keyed by its
// FNV-1a hash, here and nowhere else. The keys must stay the same from
// release to release: during a rolling deploy, replicas of two versions
// must agree on them.

// LockKey is the key of the single-key advisory lock (pg_advisory_lock
// with one bigint) named name.
func LockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return int64(h.Sum64())
}

// LockKey32 is name's half of a two-key advisory lock (pg_advisory_lock
// with two ints): the first key names the kind of lock, so it cannot
// collide with other applications' (or tern's) single-key locks, and the
// second the thing locked.
func LockKey32(name string) int32 {
	h := fnv.New32a()
	h.Write([]byte(name))
	return int32(h.Sum32())
}

// QuoteLiteral returns s as an SQL string literal. Values go in as
// parameters; this is for generated statements that carry fixed names in
// their text (event types, a notification channel), so the planner sees
// them. It assumes standard_conforming_strings (PostgreSQL's default since
// 9.1), under which doubling a quote is the only escape.
func QuoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// TextArray returns items as a text[] literal: array['a', 'b']::text[].
func TextArray(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = QuoteLiteral(s)
	}
	return "array[" + strings.Join(quoted, ", ") + "]::text[]"
}
