package orbapitest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// cursor is the position after the last object served: its sort key and id.
// Because it names a position rather than an offset, objects added or
// removed ahead of it do not shift the pages after it.
type cursor struct {
	Sort time.Time `json:"s"`
	ID   string    `json:"i"`
}

// compareNewestFirst orders objects by sort key, newest first, then by id,
// descending, so the order is total.
func compareNewestFirst(a, b object) int {
	if c := b.sort.Compare(a.sort); c != 0 {
		return c
	}
	return strings.Compare(b.id, a.id)
}

// before reports whether o comes after the cursor position.
func (c *cursor) before(o object) bool {
	return compareNewestFirst(object{sort: c.Sort, id: c.ID}, o) < 0
}

// encodeCursor returns the opaque cursor for the position after o.
func encodeCursor(o object) string {
	raw, _ := json.Marshal(cursor{Sort: o.sort, ID: o.id}) // Cannot fail.
	return base64.RawURLEncoding.EncodeToString(raw)
}

// decodeCursor parses a cursor; empty means the start of the list.
func decodeCursor(v string) (*cursor, error) {
	if v == "" {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(v)
	var c cursor
	if err == nil {
		err = json.Unmarshal(raw, &c)
	}
	if err != nil || c.ID == "" {
		return nil, errors.New("cursor: invalid cursor")
	}
	return &c, nil
}
