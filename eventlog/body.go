package eventlog

import (
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Bodies are kept byte for byte (signatures cover the exact bytes), but
// compressed by this process with zstd before the append transaction, into
// events.body_zstd: a third of what lz4 inside PostgreSQL keeps for the
// reference mix, and no compression while the log head is locked. Rows
// written before migration 007 have the raw bytes in events.body instead.
// Read either with DecodeBody. (The jsonb copy, events.payload, is for SQL
// and the projections; it does not keep key order, whitespace or
// duplicate keys.)

// BodyColumns selects what DecodeBody needs, in its order.
const BodyColumns = "body, body_zstd"

// maxDecodedBody bounds a decompressed body: a corrupt or hostile frame
// must not allocate without limit. Webhook bodies are at most 10 MiB by
// default (MAX_BODY_BYTES); this leaves room for larger settings.
const maxDecodedBody = 256 << 20

// bodyWindow is the zstd window: how far back a match may reach.
const bodyWindow = 256 << 10

var (
	codecOnce sync.Once
	encoder   *zstd.Encoder
	decoder   *zstd.Decoder
	codecErr  error
)

// codec builds the shared encoder and decoder on first use. Both are safe
// for concurrent EncodeAll/DecodeAll calls.
func codec() (*zstd.Encoder, *zstd.Decoder, error) {
	codecOnce.Do(func() {
		// Memory, not ratio, decides: serve runs at GOGC=400, so every
		// byte the encoders keep costs five in RSS. The window is most of
		// it (two windows of history at the 8 MiB default); 256 KiB holds
		// the largest payloads seen (~54 KB). The fastest level's tables
		// are a fraction of the default's, for 4% more bytes (2.0 KB vs
		// 1.9 KB per event of the reference mix): ~0.4 MiB per encoder.
		encoder, codecErr = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithWindowSize(bodyWindow),
			zstd.WithEncoderConcurrency(2), zstd.WithLowerEncoderMem(true), zstd.WithZeroFrames(true))
		if codecErr != nil {
			return
		}
		decoder, codecErr = zstd.NewReader(nil, zstd.WithDecoderConcurrency(2), zstd.WithDecoderMaxMemory(maxDecodedBody),
			zstd.WithDecoderLowmem(true))
	})
	return encoder, decoder, codecErr
}

// CompressBody returns body as stored in events.body_zstd.
func CompressBody(body []byte) ([]byte, error) {
	enc, _, err := codec()
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	return enc.EncodeAll(body, make([]byte, 0, len(body)/4+64)), nil
}

// DecodeBody returns the exact bytes received for an event, from its body
// and body_zstd columns (select BodyColumns): exactly one is set.
func DecodeBody(body, bodyZstd []byte) ([]byte, error) {
	switch {
	case body != nil && bodyZstd != nil:
		return nil, errors.New("event has both body and body_zstd")
	case body != nil:
		return body, nil
	case bodyZstd == nil:
		return nil, errors.New("event has neither body nor body_zstd")
	}
	_, dec, err := codec()
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	out, err := dec.DecodeAll(bodyZstd, nil)
	if err != nil {
		return nil, fmt.Errorf("decompressing body_zstd: %w", err)
	}
	return out, nil
}
