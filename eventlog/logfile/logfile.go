// Package logfile moves the event log between databases as a file: Export
// writes it as newline-delimited JSON, one event a line, with everything the
// log stores about the event (position, ids, Orb and receive times, source,
// resource, signing headers) and the body byte for byte; Import appends
// such a file to an empty log, keeping every position. The projected tables
// are not in the file: they are a function of the log, and the importer
// rebuilds them.
//
// Two versions of the file exist, and Import reads both. Version 1 carries
// each body as received, base64 ("body"). Version 2, the default, carries
// each body as the log stores it ("body_zstd": the zstd frame this service
// compressed it into on append, base64), so Export copies bytes instead of
// decompressing and encoding ten times as many; rows stored before bodies
// were compressed keep "body". Import decompresses each frame once to check
// it (the frame carries its own content size and checksum) and to parse the
// payload, and stores the frame as it came.
package logfile

import (
	"time"
)

// Format names the file format in its first line, so Import refuses files
// it does not understand instead of guessing. Version is what Export
// writes by default; VersionPlain is the version with plain bodies, which
// Export writes when asked to (ExportConfig.PlainBodies) and which every
// earlier orb-sync wrote.
const (
	Format       = "orb-sync-log"
	Version      = 2
	VersionPlain = 1
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

// Record is one event line. Exactly one of Body and BodyZstd is set (base64
// in the file): Body is the exact bytes received, BodyZstd a zstd frame of
// them as stored in events.body_zstd (version 2 only). The payload column
// is derived from the body on import.
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
	Body         []byte    `json:"body,omitempty"`
	BodyZstd     []byte    `json:"body_zstd,omitempty"`
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
