package api

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/sync/errgroup"

	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/vocab"
)

// maxImportRows bounds one device import.
const maxImportRows = 10_000

// rowError is what was wrong with one CSV row.
type rowError struct {
	Line    int    `json:"line"`
	ID      string `json:"id,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

var importColumns = []string{"id", "name", "device_type", "driver", "address", "credential", "enrollment_otp"}

// importDevices creates devices from a CSV with a header naming its columns
// (id, name and device_type required; driver, address, credential (the name
// of a stored credential) and enrollment_otp optional). Each bad row is reported with its line. With
// ?all_or_nothing=true one bad row creates nothing.
//
// It is also bulk registration for EST: a row with an enrollment OTP creates
// a device in NEW mode that enrolls itself (driver est unless another is
// named) with that OTP, once. The OTP is stored only as a hash.
func (s *server) importDevices(c *gin.Context) {
	allOrNothing := c.Query("all_or_nothing") == "true"
	bodies, errs, err := readDeviceCSV(http.MaxBytesReader(c.Writer, c.Request.Body, 8*maxBody))
	if err != nil {
		fail(c, err)
		return
	}
	if !s.validateAll(c, bodies, &errs) {
		return
	}
	otpHashes, err := hashOTPs(bodies, errs)
	if err != nil {
		fail(c, err)
		return
	}
	var created []string
	err = pgx.BeginFunc(c.Request.Context(), s.pool, func(tx pgx.Tx) error {
		for line, b := range bodies {
			if slices.ContainsFunc(errs, func(e rowError) bool { return e.Line == line }) {
				continue
			}
			// A savepoint per row: one duplicate does not spoil the rest.
			err := pgx.BeginFunc(c.Request.Context(), tx, func(row pgx.Tx) error {
				q := store.New(row)
				credentialID, err := bindCredential(c.Request.Context(), q, principal(c), b, nil)
				if err != nil {
					return err
				}
				_, err = q.CreateDevice(c.Request.Context(), store.CreateDeviceParams{
					ID: b.ID, Name: strings.TrimSpace(b.Name), DeviceType: b.DeviceType, Mode: "NEW",
					Driver: b.Driver, Address: b.Address, CredentialID: credentialID,
				})
				if hash, ok := otpHashes[line]; ok && err == nil {
					err = q.CreateEnrollmentCredential(c.Request.Context(), store.CreateEnrollmentCredentialParams{DeviceID: b.ID, Kind: "otp", SecretHash: hash})
				}
				return err
			})
			if err != nil {
				errs = append(errs, rowErrorOf(line, b.ID, err))
				continue
			}
			created = append(created, b.ID)
		}
		if allOrNothing && len(errs) > 0 {
			return errImportRefused
		}
		return record(c.Request.Context(), store.New(tx), principal(c).Actor(), "device.import", "device", created, gin.H{"rows": len(bodies), "errors": len(errs)})
	})
	slices.SortStableFunc(errs, func(a, b rowError) int { return a.Line - b.Line })
	switch {
	case errors.Is(err, errImportRefused):
		fail(c, errkind.Invalid("csv", "some rows are invalid; all_or_nothing created none").With(map[string]any{"errors": errs}))
	case err != nil:
		fail(c, err)
	case len(errs) > 0:
		// 207: some rows were created, some not; the body says which.
		c.JSON(http.StatusMultiStatus, gin.H{"created": len(created), "errors": errs})
	default:
		c.JSON(http.StatusOK, gin.H{"created": len(created), "errors": errs})
	}
}

var errImportRefused = errors.New("import refused")

// readDeviceCSV parses the import; the map is keyed by line number.
func readDeviceCSV(r io.Reader) (map[int]*deviceBody, []rowError, error) {
	reader := csv.NewReader(r)
	reader.FieldsPerRecord = -1
	header, err := reader.Read()
	if err != nil {
		return nil, nil, fieldError("csv", "the first line must name the columns: %v", err)
	}
	index := map[string]int{}
	for i, name := range header {
		name = strings.TrimSpace(strings.ToLower(name))
		if name == "credential_ref" {
			return nil, nil, fieldError("csv", "the column credential_ref is gone: store secrets with POST /api/v1/credentials and name them in the column credential")
		}
		if !slices.Contains(importColumns, name) {
			return nil, nil, fieldError("csv", "unknown column %q; columns are %v", name, importColumns)
		}
		index[name] = i
	}
	for _, required := range importColumns[:3] {
		if _, ok := index[required]; !ok {
			return nil, nil, fieldError("csv", "the column %q is required", required)
		}
	}
	bodies := map[int]*deviceBody{}
	errs := []rowError{}
	for {
		record, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil { // a *csv.ParseError names its line
			return nil, nil, fieldError("csv", "%v", err)
		}
		line, _ := reader.FieldPos(0)
		if len(bodies)+len(errs) >= maxImportRows {
			return nil, nil, fieldError("csv", "more than %d rows", maxImportRows)
		}
		if len(record) != len(header) {
			errs = append(errs, rowError{Line: line, Message: fmt.Sprintf("%d fields, the header has %d", len(record), len(header))})
			continue
		}
		get := func(col string) string {
			if i, ok := index[col]; ok {
				return strings.TrimSpace(record[i])
			}
			return ""
		}
		bodies[line] = &deviceBody{ID: get("id"), Name: get("name"), DeviceType: get("device_type"), Driver: get("driver"), Address: get("address"), Credential: get("credential"), EnrollmentOTP: get("enrollment_otp")}
	}
	if len(bodies)+len(errs) == 0 {
		return nil, nil, fieldError("csv", "no rows")
	}
	return bodies, errs, nil
}

// validateAll checks every row and appends what fails; a repeated ID is an error.
func (s *server) validateAll(c *gin.Context, bodies map[int]*deviceBody, errs *[]rowError) bool {
	known, err := s.catalog(c.Request.Context())
	if err != nil {
		fail(c, err)
		return false
	}
	seen := map[string]int{}
	lines := make([]int, 0, len(bodies))
	for line := range bodies {
		lines = append(lines, line)
	}
	slices.Sort(lines)
	for _, line := range lines {
		b := bodies[line]
		// Every error of the row, so that one upload fixes them all.
		for _, err := range b.checkAll(known) {
			*errs = append(*errs, rowErrorOf(line, b.ID, err))
		}
		if first, dup := seen[b.ID]; dup {
			*errs = append(*errs, rowError{Line: line, ID: b.ID, Field: "id", Message: "repeats line " + strconv.Itoa(first)})
		} else {
			seen[b.ID] = line
		}
	}
	return true
}

// hashOTPs hashes the OTPs of the valid rows, by line, on every core: each
// hash is deliberately slow (see auth.HashSecret).
func hashOTPs(bodies map[int]*deviceBody, errs []rowError) (map[int]string, error) {
	var mu sync.Mutex
	hashes := map[int]string{}
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for line, b := range bodies {
		if b.EnrollmentOTP == "" || slices.ContainsFunc(errs, func(e rowError) bool { return e.Line == line }) {
			continue
		}
		g.Go(func() error {
			hash, err := auth.HashSecret(b.EnrollmentOTP)
			mu.Lock()
			defer mu.Unlock()
			hashes[line] = hash
			return err
		})
	}
	return hashes, g.Wait()
}

// rowErrorOf says why a row was not created, without exposing SQL.
func rowErrorOf(line int, id string, err error) rowError {
	kinded, _ := errkind.As(err)
	var pgErr *pgconn.PgError
	switch {
	case kinded.Kind() == errkind.KindInvalid:
		return rowError{Line: line, ID: id, Field: kinded.Field(), Message: kinded.Message()}
	case kinded.Kind() == errkind.KindForbidden: // only the credential column can be
		return rowError{Line: line, ID: id, Field: "credential", Message: kinded.Message()}
	case errors.As(err, &pgErr) && pgErr.Code == "23505":
		return rowError{Line: line, ID: id, Message: "not created: a device with this ID exists"}
	}
	return rowError{Line: line, ID: id, Message: "not created: the database refused it"}
}

// exportJobs writes the filtered, sorted job list as RFC 4180 CSV.
func (s *server) exportJobs(c *gin.Context) {
	params, ok := jobListParams(c)
	if !ok {
		return
	}
	params.PageSize, params.PageOffset = 1000, 0
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="jobs.csv"`)
	c.Status(http.StatusOK)
	w := csv.NewWriter(c.Writer)
	w.UseCRLF = true
	header := []string{"id", "name", "cert_type", "status", "created_by", "scheduled_at", "started_at", "completed_at", "workflow_id", "retry_of"}
	for _, state := range vocab.ItemStates {
		header = append(header, string(state))
	}
	_ = w.Write(header)
	for written := 0; written < exportLimit; {
		rows, err := store.New(s.pool).ListJobs(c.Request.Context(), params)
		if err != nil {
			_ = c.Error(err)
			break
		}
		counts, err := s.itemCounts(c, rows)
		if err != nil {
			_ = c.Error(err)
			break
		}
		for _, j := range rows {
			retryOf := ""
			if j.RetryOf.Valid {
				retryOf = strconv.FormatInt(j.RetryOf.Int64, 10)
			}
			record := []string{strconv.FormatInt(j.ID, 10), j.Name, j.CertType, j.Status, j.CreatedBy,
				j.ScheduledAt.Format(time.RFC3339), derefTime(j.StartedAt), derefTime(j.CompletedAt), viewJob(j).WorkflowID, retryOf}
			for _, state := range vocab.ItemStates {
				record = append(record, strconv.FormatInt(counts[j.ID][state], 10))
			}
			_ = w.Write(record)
		}
		written += len(rows)
		if len(rows) < int(params.PageSize) {
			break
		}
		params.PageOffset += params.PageSize
	}
	w.Flush()
}

// itemCounts counts the items of a page of jobs per state.
func (s *server) itemCounts(c *gin.Context, rows []store.Job) (map[int64]map[vocab.ItemState]int64, error) {
	ids := make([]int64, len(rows))
	for i, j := range rows {
		ids[i] = j.ID
	}
	counted, err := store.New(s.pool).CountItemsOfJobs(c.Request.Context(), ids)
	if err != nil {
		return nil, err
	}
	counts := map[int64]map[vocab.ItemState]int64{}
	for _, r := range counted {
		if counts[r.JobID] == nil {
			counts[r.JobID] = map[vocab.ItemState]int64{}
		}
		counts[r.JobID][vocab.ItemState(r.State)] = r.Items
	}
	return counts, nil
}
