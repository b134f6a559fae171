package api

import (
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"

	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/pki"
)

// estLabelBody is an EST label as clients write it.
type estLabelBody struct {
	Label         string   `json:"label"`
	IsDefault     bool     `json:"is_default"`
	ProfileID     int64    `json:"profile_id"`
	AllowBasic    *bool    `json:"allow_basic"`
	AllowFactory  bool     `json:"allow_factory"`
	AllowReenroll *bool    `json:"allow_reenroll"`
	IdentityField string   `json:"identity_field"`
	AllowedCIDRs  []string `json:"allowed_cidrs"`
	// ScepEnabled serves the label over SCEP too, beside EST.
	ScepEnabled bool `json:"scep_enabled"`
	// ScepChallenges are the challenge passwords SCEP takes; nil is all.
	ScepChallenges []string `json:"scep_challenges"`
}

type estLabelView struct {
	Label          string    `json:"label"`
	IsDefault      bool      `json:"is_default"`
	ProfileID      int64     `json:"profile_id"`
	AllowBasic     bool      `json:"allow_basic"`
	AllowFactory   bool      `json:"allow_factory"`
	AllowReenroll  bool      `json:"allow_reenroll"`
	IdentityField  string    `json:"identity_field"`
	AllowedCIDRs   []string  `json:"allowed_cidrs"`
	ScepEnabled    bool      `json:"scep_enabled"`
	ScepChallenges []string  `json:"scep_challenges"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

func viewESTLabel(l store.EstLabel) estLabelView {
	cidrs := make([]string, len(l.AllowedCidrs))
	for i, p := range l.AllowedCidrs {
		cidrs[i] = p.String()
	}
	return estLabelView{Label: l.Label, IsDefault: l.IsDefault, ProfileID: l.ProfileID, AllowBasic: l.AllowBasic,
		AllowFactory: l.AllowFactory, AllowReenroll: l.AllowReenroll, IdentityField: l.IdentityField,
		AllowedCIDRs: cidrs, ScepEnabled: l.ScepEnabled, ScepChallenges: l.ScepChallenges, CreatedAt: l.CreatedAt, UpdatedAt: l.UpdatedAt}
}

var labelPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// estOperations may not be labels: /.well-known/est/cacerts is an operation.
var estOperations = []string{"cacerts", "csrattrs", "simpleenroll", "simplereenroll", "serverkeygen"}

// scepChallengeKinds are the challenge passwords a SCEP label may take: a
// device's OTP or a one-time challenge from
// POST /scep/challenges. A label takes all of them unless it says otherwise.
var scepChallengeKinds = []string{"otp", "dynamic"}

// scepChallenges checks a label's list of challenge kinds: each known, none
// twice; omitted, all of them.
func scepChallenges(kinds []string) ([]string, error) {
	if kinds == nil {
		return slices.Clone(scepChallengeKinds), nil
	}
	for i, kind := range kinds {
		if !slices.Contains(scepChallengeKinds, kind) {
			return nil, fieldError("scep_challenges", "%q is not a challenge kind: want some of %v", kind, scepChallengeKinds)
		}
		if slices.Contains(kinds[:i], kind) {
			return nil, fieldError("scep_challenges", "%q is listed twice", kind)
		}
	}
	return kinds, nil
}

// params checks the body and makes the row's values; basic and re-enrollment
// are allowed unless turned off.
func (b estLabelBody) params() (store.CreateESTLabelParams, error) {
	p := store.CreateESTLabelParams{Label: b.Label, IsDefault: b.IsDefault, ProfileID: b.ProfileID,
		AllowBasic: b.AllowBasic == nil || *b.AllowBasic, AllowFactory: b.AllowFactory,
		AllowReenroll: b.AllowReenroll == nil || *b.AllowReenroll, IdentityField: b.IdentityField, AllowedCidrs: []netip.Prefix{},
		ScepEnabled: b.ScepEnabled}
	if !labelPattern.MatchString(b.Label) || slices.Contains(estOperations, b.Label) {
		return p, fieldError("label", "1 to 63 of a-z 0-9 _ -, starting with a letter or digit, and not an EST operation's name")
	}
	if b.ProfileID <= 0 {
		return p, fieldError("profile_id", "required")
	}
	if p.IdentityField == "" {
		p.IdentityField = pki.IdentityCN
	}
	if !slices.Contains(pki.IdentityFields, p.IdentityField) {
		return p, fieldError("identity_field", "want one of %v", pki.IdentityFields)
	}
	if !p.AllowBasic && !p.AllowFactory && !p.AllowReenroll {
		return p, fieldError("allow_basic", "a label must allow at least one way to authenticate")
	}
	for _, cidr := range b.AllowedCIDRs {
		prefix, err := netip.ParsePrefix(cidr)
		if err != nil || prefix != prefix.Masked() {
			return p, fieldError("allowed_cidrs", "%q is not a network in CIDR notation (e.g. 10.0.0.0/8)", cidr)
		}
		p.AllowedCidrs = append(p.AllowedCidrs, prefix)
	}
	var err error
	if p.ScepChallenges, err = scepChallenges(b.ScepChallenges); err != nil {
		return p, err
	}
	return p, nil
}

func (s *server) listESTLabels(c *gin.Context) {
	rows, err := store.New(s.pool).ListESTLabels(c.Request.Context())
	if err != nil {
		fail(c, err)
		return
	}
	views := make([]estLabelView, len(rows))
	for i, r := range rows {
		views[i] = viewESTLabel(r)
	}
	c.JSON(http.StatusOK, gin.H{"items": views})
}

func (s *server) getESTLabel(c *gin.Context) {
	row, err := store.New(s.pool).GetESTLabel(c.Request.Context(), c.Param("label"))
	respondESTLabel(c, http.StatusOK, row, err)
}

// saveESTLabel creates a label (POST) or replaces one (PUT /est-labels/:label).
func (s *server) saveESTLabel(c *gin.Context) {
	var body estLabelBody
	if !decode(c, &body) {
		return
	}
	replace := c.Request.Method == http.MethodPut
	if replace && body.Label == "" {
		body.Label = c.Param("label")
	}
	if replace && body.Label != c.Param("label") {
		fail(c, fieldError("label", "a label's name cannot change"))
		return
	}
	p, err := body.params()
	if err != nil {
		fail(c, err)
		return
	}
	var row store.EstLabel
	action, status := "est_label.create", http.StatusCreated
	if replace {
		action, status = "est_label.update", http.StatusOK
	}
	err = s.change(c, action, "est_label", func(q *store.Queries) ([]string, any, error) {
		var err error
		if replace {
			row, err = q.UpdateESTLabel(c.Request.Context(), store.UpdateESTLabelParams{
				Label: p.Label, IsDefault: p.IsDefault, ProfileID: p.ProfileID, AllowBasic: p.AllowBasic, AllowFactory: p.AllowFactory,
				AllowReenroll: p.AllowReenroll, IdentityField: p.IdentityField, AllowedCidrs: p.AllowedCidrs,
				ScepEnabled: p.ScepEnabled, ScepChallenges: p.ScepChallenges,
			})
		} else {
			row, err = q.CreateESTLabel(c.Request.Context(), p)
		}
		return []string{p.Label}, viewESTLabel(row), err
	})
	respondESTLabel(c, status, row, err)
}

// makeDefaultESTLabel makes a label the one the unlabelled path serves, in
// one transaction with unsetting the previous default: there is no moment
// without a default, nor with two.
func (s *server) makeDefaultESTLabel(c *gin.Context) {
	label := c.Param("label")
	var row store.EstLabel
	err := s.change(c, "est_label.default", "est_label", func(q *store.Queries) ([]string, any, error) {
		if err := q.ClearDefaultESTLabel(c.Request.Context(), label); err != nil {
			return nil, nil, err
		}
		var err error
		row, err = q.MakeDefaultESTLabel(c.Request.Context(), label)
		return []string{label}, nil, err
	})
	respondESTLabel(c, http.StatusOK, row, err)
}

func (s *server) deleteESTLabel(c *gin.Context) {
	label := c.Param("label")
	err := s.change(c, "est_label.delete", "est_label", func(q *store.Queries) ([]string, any, error) {
		n, err := q.DeleteESTLabel(c.Request.Context(), label)
		if err == nil && n == 0 {
			err = pgx.ErrNoRows
		}
		return []string{label}, nil, err
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"deleted": label})
}

func respondESTLabel(c *gin.Context, status int, row store.EstLabel, err error) {
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(status, viewESTLabel(row))
}

// minSecretLength keeps enrollment secrets out of reach of online guessing.
const minSecretLength = 12

// setEnrollmentPassword replaces a device's EST password; it is stored hashed
// and never shown again.
func (s *server) setEnrollmentPassword(c *gin.Context) {
	var body struct {
		Password string `json:"password"`
	}
	if !decode(c, &body) {
		return
	}
	if len(body.Password) < minSecretLength || len(body.Password) > 200 {
		fail(c, fieldError("password", "%d to 200 characters", minSecretLength))
		return
	}
	hash, err := auth.HashSecret(body.Password)
	if err != nil {
		fail(c, err)
		return
	}
	id := c.Param("id")
	err = s.change(c, "device.set_enrollment_password", "device", func(q *store.Queries) ([]string, any, error) {
		if _, err := q.GetDevice(c.Request.Context(), id); err != nil {
			return nil, nil, err
		}
		if err := q.DeletePasswordCredentials(c.Request.Context(), id); err != nil {
			return nil, nil, err
		}
		return []string{id}, nil, q.CreateEnrollmentCredential(c.Request.Context(), store.CreateEnrollmentCredentialParams{DeviceID: id, Kind: "password", SecretHash: hash})
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"device_id": id, "enrollment_password": "set"})
}
