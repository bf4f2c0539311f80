package eventlog

import (
	"math"
	"slices"
)

// jsonDoc is a body EventRefs reads, with, once indexed, where each of its
// objects and arrays ends. EventRefs looks members up level by level: the
// subscription among the body's, the plan among the subscription's, each
// price's id... and each lookup skipped every value before the one it
// wanted, so a ~54 KB subscription was walked four or five times over
// (skipValue was the largest single cost of building its refs). index
// walks it once; a container's end is then a lookup.
type jsonDoc struct {
	src []byte
	// starts are the offsets of the containers index found, ascending;
	// ends the offset after each, or -1 if it is not closed.
	starts, ends []int32
}

// index records every container's end in one pass over src with
// skipValue's own rules (the same strings, the same bracket counting), so
// that skip gives skipValue's answer. Bodies too large for int32 offsets
// are left unindexed.
func (d *jsonDoc) index() {
	d.starts, d.ends = d.starts[:0], d.ends[:0]
	src := d.src
	if len(src) > math.MaxInt32 {
		return
	}
	open := make([]int32, 0, 64) // indexes into ends of the containers not yet closed
	for i := 0; i < len(src); i++ {
		for i < len(src) && !structural[src[i]] {
			i++
		}
		if i == len(src) {
			break
		}
		switch src[i] {
		case '"':
			end, err := skipString(src, i)
			if err != nil {
				// Unterminated: the containers still open never close.
				return
			}
			i = end - 1
		case '{', '[':
			open = append(open, int32(len(d.ends)))
			d.starts = append(d.starts, int32(i))
			d.ends = append(d.ends, -1)
		default: // '}', ']'
			if n := len(open); n > 0 {
				d.ends[open[n-1]] = int32(i + 1)
				open = open[:n-1]
			}
		}
	}
}

// skip is skipValue(d.src, i). A container index found is not rescanned:
// index's pass and skipValue's from i agree from i on (both are outside
// a string at i, and read what follows alike), and a bracket closes i's
// container there exactly when skipValue's depth count from i returns to
// zero. Anything else (a scalar, a container index did not see from its
// own start, an unindexed document) is skipValue's to scan.
func (d *jsonDoc) skip(i int) (int, error) {
	if i < len(d.src) && (d.src[i] == '{' || d.src[i] == '[') && len(d.starts) > 0 {
		if k, ok := slices.BinarySearch(d.starts, int32(i)); ok {
			if end := d.ends[k]; end >= 0 {
				return int(end), nil
			}
			return 0, errScan
		}
	}
	return skipValue(d.src, i)
}
