package trust

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
)

// MaxRevocationRows is the most entries one CSV upload may hold.
const MaxRevocationRows = 5000

// Revocation is one offline revocation entry: a serial an anchor issued.
type Revocation struct {
	SerialHex string
	RevokedAt time.Time
}

// NormalizeSerial reads a serial number in hex, with or without "0x", colons
// or spaces, and returns it in the inventory's form: lowercase, no leading zeros.
func NormalizeSerial(s string) (string, error) {
	cleaned := strings.NewReplacer(":", "", " ", "").Replace(strings.TrimSpace(s))
	cleaned = strings.TrimPrefix(strings.TrimPrefix(cleaned, "0x"), "0X")
	if cleaned == "" {
		return "", errors.New("empty")
	}
	for _, r := range cleaned {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return "", fmt.Errorf("%q is not hexadecimal", s)
		}
	}
	cleaned = strings.TrimLeft(strings.ToLower(cleaned), "0")
	if cleaned == "" {
		cleaned = "0"
	}
	if len(cleaned) > 40 {
		return "", fmt.Errorf("%q is longer than 20 octets", s)
	}
	return cleaned, nil
}

// parseDate reads an optional revocation date; an empty one, or one in the
// future, means now.
func parseDate(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return now, nil
	}
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		if at, err = time.Parse(time.DateOnly, s); err != nil {
			return time.Time{}, fmt.Errorf("%q is not a day such as 2026-01-31 or an RFC 3339 time such as 2026-01-31T02:00:00Z", s)
		}
	}
	if at.After(now) {
		return now, nil
	}
	return at, nil
}

// ParseRevocationCSV reads rows of "serial[,date]", with an optional header
// row starting "serial". It reports every bad row at once, and refuses more
// than MaxRevocationRows. A serial repeated in the file keeps its first row.
func ParseRevocationCSV(r io.Reader, now time.Time) ([]Revocation, error) {
	reader := csv.NewReader(r)
	reader.FieldsPerRecord = -1
	reader.ReuseRecord = true
	var entries []Revocation
	var problems []string
	seen := map[string]bool{}
	for line := 1; ; line++ {
		record, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, errkind.Invalid("csv", "%w: line %d: %v", ErrInvalid, line, err)
		}
		if line == 1 && strings.EqualFold(strings.TrimSpace(record[0]), "serial") {
			continue
		}
		if len(entries)+len(problems) >= MaxRevocationRows {
			return nil, errkind.Invalid("csv", "%w: more than %d rows", ErrInvalid, MaxRevocationRows)
		}
		entry, err := parseRow(record, now)
		if err != nil {
			problems = append(problems, fmt.Sprintf("line %d: %v", line, err))
			continue
		}
		if !seen[entry.SerialHex] {
			seen[entry.SerialHex] = true
			entries = append(entries, entry)
		}
	}
	if len(problems) > 0 {
		return nil, errkind.Invalid("csv", "%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	if len(entries) == 0 {
		return nil, errkind.Invalid("csv", "%w: the CSV has no rows", ErrInvalid)
	}
	return entries, nil
}

func parseRow(record []string, now time.Time) (Revocation, error) {
	if len(record) > 2 {
		return Revocation{}, fmt.Errorf("%d fields; want serial[,date]", len(record))
	}
	serial, err := NormalizeSerial(record[0])
	if err != nil {
		return Revocation{}, fmt.Errorf("serial: %w", err)
	}
	date := ""
	if len(record) == 2 {
		date = record[1]
	}
	at, err := parseDate(date, now)
	if err != nil {
		return Revocation{}, fmt.Errorf("date: %w", err)
	}
	return Revocation{SerialHex: serial, RevokedAt: at}, nil
}

// AddRevocations records entries for serials anchorID issued, in one
// transaction. An entry for a serial already listed keeps the existing one.
func (s *Store) AddRevocations(ctx context.Context, anchorID int64, entries []Revocation) (added, kept int, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := store.New(tx)
		for _, e := range entries {
			n, err := q.AddOfflineRevocation(ctx, store.AddOfflineRevocationParams{AnchorID: anchorID, SerialHex: e.SerialHex, RevokedAt: e.RevokedAt})
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23503" {
				return ErrNotFound
			}
			if err != nil {
				return fmt.Errorf("record revocation of %s: %w", e.SerialHex, err)
			}
			added += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return added, len(entries) - added, nil
}

// AddRevocation records one entry; date may be empty (now) or in the future (now).
func (s *Store) AddRevocation(ctx context.Context, anchorID int64, serial, date string) (added bool, err error) {
	normalized, err := NormalizeSerial(serial)
	if err != nil {
		return false, errkind.Invalid("serial", "%v", err)
	}
	at, err := parseDate(date, s.now())
	if err != nil {
		return false, errkind.Invalid("date", "%v", err)
	}
	n, _, err := s.AddRevocations(ctx, anchorID, []Revocation{{SerialHex: normalized, RevokedAt: at}})
	return n == 1, err
}
