// Package logfile moves the event log between databases as a file: Export
// writes it as newline-delimited JSON, one event a line, with everything the
// log stores about the event (position, ids, Orb and receive times, source,
// resource, signing headers) and the body byte for byte (base64, since a
// body may hold newlines); Import appends such a file to an empty log,
// keeping every position. The projected tables are not in the file: they
// are a function of the log, and the importer rebuilds them.
package logfile

import (
	"time"
)

// Format names the file format in its first line, so Import refuses files
// it does not understand instead of guessing.
const (
	Format  = "orb-sync-log"
	Version = 1
)

// header is the file's first line.
type header struct {
	Format     string     `json:"format"`
	Version    int        `json:"version"`
	Schema     string     `json:"schema"`
	ExportedAt time.Time  `json:"exported_at"`
	Since      *time.Time `json:"since,omitempty"`
	Until      *time.Time `json:"until,omitempty"`
}

// Record is one event line. Body is the exact bytes received (base64 in
// the file); the payload column is derived from it on import.
type Record struct {
	Seq          int64     `json:"seq"`
	EventID      string    `json:"event_id"`
	Type         string    `json:"type"`
	CreatedAt    time.Time `json:"created_at"`
	ReceivedAt   time.Time `json:"received_at"`
	Source       string    `json:"source"`
	ResourceType *string   `json:"resource_type"`
	ResourceID   *string   `json:"resource_id"`
	OrbTimestamp *string   `json:"orb_timestamp"`
	OrbSignature *string   `json:"orb_signature"`
	Body         []byte    `json:"body"`
}

// Progress is reported while a file is written or read.
type Progress struct {
	Events int64
	Bytes  int64
	// Total is the number of events expected (export), or 0 if unknown.
	Total   int64
	Started time.Time
}

// Rate is the events per second since Started, as of now.
func (p Progress) Rate(now time.Time) float64 {
	return float64(p.Events) / now.Sub(p.Started).Seconds()
}

// Done is the share of Total written so far (0 when Total is unknown).
func (p Progress) Done() float64 {
	if p.Total <= 0 {
		return 0
	}
	return float64(p.Events) / float64(p.Total)
}

// ETA is the time left at the rate so far, to the second, as of now; 0
// when Total is unknown.
func (p Progress) ETA(now time.Time) time.Duration {
	done := p.Done()
	if done <= 0 {
		return 0
	}
	secs := now.Sub(p.Started).Seconds()
	return (time.Duration(secs/done*(1-done)) * time.Second).Round(time.Second)
}
