package credentials

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/certfleet/certfleet/db/store"
)

// LegacyEnvPrefix is the only environment a legacy reference may be imported
// from. Before the store, a device named any env:NAME or file:PATH, and the
// worker sent its value to the device's address: an operator could have it
// send CERTFLEET_KEK or DATABASE_URL anywhere. No setting of certfleet's own
// starts with this prefix, so none can be imported.
const LegacyEnvPrefix = "CERTFLEET_DEVICE_CRED_"

// legacyActor names the import in the audit log.
const legacyActor = "system:credential-import"

// ImportLegacy moves the devices' remaining credential references into the
// store: env:NAME becomes a bearer credential and derived:env:NAME a derived
// one, each named "legacy:<reference>", when NAME starts with LegacyEnvPrefix
// and is set. Anything else (file: references, other variables) is left in
// place and reported; such devices fail their jobs with a clear error until
// an admin binds a stored credential. Safe to run on every start and from
// several processes.
func (s *Store) ImportLegacy(ctx context.Context, lookupEnv func(string) (string, bool), logger *slog.Logger) error {
	refs, err := store.New(s.Pool).LegacyCredentialRefs(ctx)
	if err != nil {
		return fmt.Errorf("read legacy credential references: %w", err)
	}
	for _, ref := range refs {
		spec, reason := legacySpec(ref, lookupEnv)
		if reason != "" {
			logger.Warn("device credential reference not imported into the credential store; bind a stored credential to its devices",
				"reference", ref, "reason", reason)
			continue
		}
		if err := s.importRef(ctx, ref, spec); err != nil {
			return err
		}
		logger.Info("imported a legacy credential reference into the credential store", "reference", ref, "credential", spec.Name)
	}
	return nil
}

// legacySpec is the credential a reference becomes, or why it cannot.
func legacySpec(ref string, lookupEnv func(string) (string, bool)) (Spec, string) {
	kind, name := Bearer, ref
	if rest, ok := strings.CutPrefix(ref, "derived:"); ok {
		kind, name = Derived, rest
	}
	variable, ok := strings.CutPrefix(name, "env:")
	if !ok {
		return Spec{}, "only env: references are imported; store the secret with POST /api/v1/credentials"
	}
	if !strings.HasPrefix(variable, LegacyEnvPrefix) {
		return Spec{}, "only variables named " + LegacyEnvPrefix + "* are imported"
	}
	value, ok := lookupEnv(variable)
	if !ok || value == "" {
		return Spec{}, "the variable is not set in this process"
	}
	spec := Spec{Name: "legacy:" + ref, Kind: kind, Secret: value}
	if err := spec.Check(); err != nil {
		return Spec{}, err.Error()
	}
	return spec, ""
}

func (s *Store) importRef(ctx context.Context, ref string, spec Spec) error {
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		q := store.New(tx)
		cred, err := q.GetCredentialByName(ctx, spec.Name)
		if err == pgx.ErrNoRows {
			cred, err = s.Create(ctx, q, spec, legacyActor)
		}
		if err != nil {
			return fmt.Errorf("import credential reference %s: %w", ref, err)
		}
		n, err := q.BindLegacyCredential(ctx, store.BindLegacyCredentialParams{CredentialID: pgInt8(cred.ID), CredentialRef: ref})
		if err != nil {
			return fmt.Errorf("bind imported credential %s: %w", spec.Name, err)
		}
		return q.RecordAudit(ctx, store.RecordAuditParams{
			Actor: legacyActor, Action: "credential.import", ObjectType: "credential", ObjectIds: []string{spec.Name},
			Details: []byte(fmt.Sprintf(`{"devices": %d}`, n)),
		})
	})
}

func pgInt8(v int64) pgtype.Int8 { return pgtype.Int8{Int64: v, Valid: true} }
