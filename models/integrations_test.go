package models_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// integrationInput is a valid integration form.
func integrationInput(name string) models.IntegrationInput {
	return models.IntegrationInput{Name: name, Bucket: "switchboard-videos", Region: "us-east-1",
		RoleARN: "arn:aws:iam::123456789012:role/switchboard-read", Prefix: "videos/"}
}

// newIntegration creates an integration or fails the test.
func newIntegration(t *testing.T, db *gorm.DB, s tenancy.Scope, name string) models.S3Integration {
	t.Helper()
	it, err := models.CreateIntegration(t.Context(), db, s, integrationInput(name))
	if err != nil {
		t.Fatalf("create integration %q: %v", name, err)
	}
	return it
}

// rawIntegration reads an integration's row with raw SQL.
func rawIntegration(t *testing.T, db *gorm.DB, id int64) models.S3Integration {
	t.Helper()
	var it models.S3Integration
	dbtest.Must(t, dbtest.Plain(t, db).Raw("SELECT * FROM s3_integrations WHERE id = ?", id).Scan(&it).Error)
	if it.ID != id {
		t.Fatalf("integration %d is gone", id)
	}
	return it
}

func TestCreateIntegration(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		in := models.IntegrationInput{Name: "  Raw   footage ", Bucket: " my-bucket ", Region: " eu-west-1 ",
			RoleARN: " arn:aws:iam::123456789012:role/path/to/name ", Prefix: " videos/raw/ "}
		it, err := models.CreateIntegration(t.Context(), db, f.Member, in)
		dbtest.Must(t, err)
		row, err := models.GetIntegration(t.Context(), db, f.Admin, it.PublicID)
		dbtest.Must(t, err)
		got := row.S3Integration
		want := models.IntegrationInput{Name: "Raw footage", Bucket: "my-bucket", Region: "eu-west-1",
			RoleARN: "arn:aws:iam::123456789012:role/path/to/name", Prefix: "videos/raw/"}
		if (models.IntegrationInput{Name: got.Name, Bucket: got.Bucket, Region: got.Region, RoleARN: got.RoleARN, Prefix: got.Prefix}) != want {
			t.Errorf("stored %+v, want %+v", got, want)
		}
		if !objectID.MatchString(got.PublicID) || got.AccountID != f.Admin.AccountID() || got.CreatedByID == nil ||
			*got.CreatedByID != f.MemberUser.ID || row.CreatedByName != f.MemberUser.Name {
			t.Errorf("stored %+v created by %q", got, row.CreatedByName)
		}
		if got.ExternalID == "" || got.ExternalID != it.ExternalID || got.ID != it.ID {
			t.Errorf("returned %+v, stored %+v", it, got)
		}
		// An empty prefix is allowed.
		in = integrationInput("No prefix")
		in.Prefix = ""
		it, err = models.CreateIntegration(t.Context(), db, f.Admin, in)
		dbtest.Must(t, err)
		if rawIntegration(t, db, it.ID).Prefix != "" {
			t.Error("prefix stored for an empty one")
		}
	})
}

// TestIntegrationValidation: bucket names by AWS's rules, regions from AWS's
// list, role ARNs, prefixes and names.
func TestIntegrationValidation(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		with := func(field, value string) models.IntegrationInput {
			in := integrationInput("Validated")
			switch field {
			case "name":
				in.Name = value
			case "bucket":
				in.Bucket = value
			case "region":
				in.Region = value
			case "role_arn":
				in.RoleARN = value
			case "prefix":
				in.Prefix = value
			default:
				t.Fatalf("unknown field %s", field)
			}
			return in
		}
		valid := map[string][]string{
			"bucket":   {"my-bucket", "a.b.c", "abc", "123", strings.Repeat("a", 63), "a-b.c-d", "my--bucket"},
			"region":   {"us-east-1", "eu-central-2", "ap-southeast-7", " us-west-2 "},
			"role_arn": {"arn:aws:iam::123456789012:role/x", "arn:aws:iam::123456789012:role/path/to/name", "arn:aws:iam::000000000000:role/a+b=c,d.e@f_g-h"},
			"prefix":   {"videos/", "", "a/b/c", `with "quotes"/`, strings.Repeat("p", 1024), "é/"},
			"name":     {"x", strings.Repeat("n", 100), "  Spaced  out  "},
		}
		invalid := map[string][]string{
			"bucket": {"ab", strings.Repeat("a", 64), "Bad_Bucket", "UPPER", "under_score", "-start", "end-", ".start", "end.",
				"a..b", "a.-b", "a-.b", "192.168.1.1", "xn--abc", "sthree-x", "amzn-s3-demo-x", "x-s3alias", "x--ol-s3",
				"x.mrap", "x--x-s3", "x--table-s3", "", "   ", "has space", "bücket"},
			"region":   {"us-east-9", "", "US-EAST-1", "mars-1", "us-east", "us-gov-west-1", "cn-north-1"},
			"role_arn": {"arn:aws:iam::123:role/x", "arn:aws:iam::123456789012:user/x", "arn:aws:s3:::bucket", "", "arn:aws:iam::123456789012:role/", "arn:aws:iam::1234567890123:role/x", "arn:aws:iam::123456789012:role/x y", "arn:aws:iam::12345678901a:role/x", "arn:aws:iam::123456789012:role/" + strings.Repeat("r", 65)},
			"prefix":   {"/videos", strings.Repeat("p", 1025), strings.Repeat("é", 513), "a\x00b", "a\nb"},
			"name":     {"", "   ", strings.Repeat("n", 101)},
		}
		for field, values := range valid {
			for _, v := range values {
				t.Run("valid "+field+" "+fmt.Sprintf("%.20q", v), func(t *testing.T) {
					_, err := models.CreateIntegration(t.Context(), db, f.Admin, with(field, v))
					dbtest.Must(t, err)
				})
			}
		}
		for field, values := range invalid {
			for _, v := range values {
				t.Run("invalid "+field+" "+fmt.Sprintf("%.20q", v), func(t *testing.T) {
					before := snapshot(t, db)
					it, err := models.CreateIntegration(t.Context(), db, f.Admin, with(field, v))
					dbtest.WantFields(t, err, field)
					if it.ID != 0 {
						t.Errorf("a refused create returned %+v", it)
					}
					wantUnchanged(t, db, before)
				})
			}
		}
		t.Run("everything wrong", func(t *testing.T) {
			before := snapshot(t, db)
			_, err := models.CreateIntegration(t.Context(), db, f.Admin, models.IntegrationInput{Prefix: "/x"})
			dbtest.WantFields(t, err, "name", "bucket", "region", "role_arn", "prefix")
			wantUnchanged(t, db, before)
		})
	})
}

// TestIntegrationNameRefusesControlCharacters: like every other name in
// Switchboard (users, organizations, indexes), an integration's display
// name cannot hold control characters; a NUL in particular must be a form
// error, not a database error (PostgreSQL refuses NUL in text).
func TestIntegrationNameRefusesControlCharacters(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		for label, name := range map[string]string{"NUL": "bad\x00name", "bell": "bad\x07name", "escape": "bad\x1b[31mname"} {
			t.Run(label, func(t *testing.T) {
				before := snapshot(t, db)
				_, err := models.CreateIntegration(t.Context(), db, f.Admin, integrationInput(name))
				if fe, ok := tenancy.AsFieldErrors(err); !ok || fe["name"] == "" {
					t.Errorf("name %q: error %v, want FieldErrors on name", name, err)
				}
				wantUnchanged(t, db, before)
			})
		}
	})
}

// TestIntegrationExternalIDAndPolicies: every integration gets its own
// external ID, which edits keep; the policies to paste into AWS are valid
// JSON and name it.
func TestIntegrationExternalIDAndPolicies(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		seen := map[string]bool{}
		var its []models.S3Integration
		for i := range 5 {
			it := newIntegration(t, db, f.Admin, fmt.Sprintf("Integration %d", i))
			if len(it.ExternalID) < 20 || seen[it.ExternalID] {
				t.Fatalf("external ID %q (seen before: %v)", it.ExternalID, seen[it.ExternalID])
			}
			seen[it.ExternalID] = true
			its = append(its, it)
		}
		other := newIntegration(t, db, f.Other, "Theirs")
		if seen[other.ExternalID] {
			t.Fatal("another account's integration has the same external ID")
		}

		it := its[0]
		in := models.IntegrationInput{Name: "Edited", Bucket: "edited-bucket", Region: "eu-west-3",
			RoleARN: "arn:aws:iam::210987654321:role/edited", Prefix: `quoted "prefix"\ </script>/`}
		up, err := models.UpdateIntegration(t.Context(), db, f.Member, it.PublicID, in)
		dbtest.Must(t, err)
		got := rawIntegration(t, db, it.ID)
		if up.ExternalID != it.ExternalID || got.ExternalID != it.ExternalID {
			t.Fatalf("external ID %q after the update (returned %q), want %q", got.ExternalID, up.ExternalID, it.ExternalID)
		}
		if got.Name != "Edited" || got.Bucket != "edited-bucket" || got.Region != "eu-west-3" ||
			got.RoleARN != in.RoleARN || got.Prefix != in.Prefix || got.PublicID != it.PublicID || got.CreatedByID == nil || *got.CreatedByID != f.AdminUser.ID {
			t.Fatalf("after the update %+v", got)
		}

		for _, x := range []models.S3Integration{it, got} {
			trust := x.TrustPolicy()
			if !json.Valid([]byte(trust)) {
				t.Fatalf("trust policy is not JSON:\n%s", trust)
			}
			var tp struct {
				Statement []struct {
					Effect    string
					Principal struct{ AWS string }
					Action    string
					Condition struct {
						StringEquals map[string]string
					}
				}
			}
			dbtest.Must(t, json.Unmarshal([]byte(trust), &tp))
			if len(tp.Statement) != 1 || tp.Statement[0].Condition.StringEquals["sts:ExternalId"] != it.ExternalID ||
				tp.Statement[0].Principal.AWS != "arn:aws:iam::"+models.PlatformAWSAccountID+":root" ||
				tp.Statement[0].Action != "sts:AssumeRole" || tp.Statement[0].Effect != "Allow" {
				t.Errorf("trust policy %+v", tp)
			}
		}

		perms := got.PermissionsPolicy()
		if !json.Valid([]byte(perms)) {
			t.Fatalf("permissions policy is not JSON when the prefix holds quotes:\n%s", perms)
		}
		var pp struct {
			Statement []struct {
				Action   []string
				Resource string
			}
		}
		dbtest.Must(t, json.Unmarshal([]byte(perms), &pp))
		if len(pp.Statement) != 2 || pp.Statement[0].Resource != "arn:aws:s3:::edited-bucket" ||
			pp.Statement[1].Resource != "arn:aws:s3:::edited-bucket/"+in.Prefix+"*" ||
			!slices.Equal(pp.Statement[1].Action, []string{"s3:GetObject"}) {
			t.Errorf("permissions policy %+v", pp)
		}
		noPrefix := models.S3Integration{Bucket: "b-u-c", ExternalID: "sb-x"}
		if err := json.Unmarshal([]byte(noPrefix.PermissionsPolicy()), &pp); err != nil || pp.Statement[1].Resource != "arn:aws:s3:::b-u-c/*" {
			t.Errorf("permissions without a prefix: %+v, %v", pp, err)
		}
	})
}

func TestUpdateIntegrationRefusesBadInput(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		it := newIntegration(t, db, f.Admin, "Stable")
		for _, c := range []struct {
			field string
			in    func(*models.IntegrationInput)
		}{
			{"name", func(in *models.IntegrationInput) { in.Name = "" }},
			{"bucket", func(in *models.IntegrationInput) { in.Bucket = "Bad_Bucket" }},
			{"region", func(in *models.IntegrationInput) { in.Region = "us-east-9" }},
			{"role_arn", func(in *models.IntegrationInput) { in.RoleARN = "arn:aws:iam::123456789012:user/x" }},
			{"prefix", func(in *models.IntegrationInput) { in.Prefix = "/leading" }},
		} {
			t.Run(c.field, func(t *testing.T) {
				in := integrationInput("Changed")
				c.in(&in)
				before := snapshot(t, db)
				_, err := models.UpdateIntegration(t.Context(), db, f.Member, it.PublicID, in)
				dbtest.WantFields(t, err, c.field)
				wantUnchanged(t, db, before)
			})
		}
		before := snapshot(t, db)
		_, err := models.UpdateIntegration(t.Context(), db, f.Admin, "000000000000000000000000", integrationInput("Lost"))
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		wantUnchanged(t, db, before)
	})
}

func TestListIntegrations(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		var created []string
		scopes := []tenancy.Scope{f.Admin, f.Member, f.Member2}
		for i := range 25 {
			created = append(created, newIntegration(t, db, scopes[i%3], fmt.Sprintf("Integration %02d", i)).PublicID)
		}
		newIntegration(t, db, f.Other, "Elsewhere")
		newIntegration(t, db, f.AdminPersonal, "Personal")

		var seen []string
		for _, p := range []struct{ number, rows int }{{1, 20}, {2, 5}, {3, 0}} {
			list, err := models.ListIntegrations(t.Context(), db, f.Member, tenancy.Page{Number: p.number, Size: 20})
			dbtest.Must(t, err)
			if len(list.Rows) != p.rows || list.Total != 25 || list.Capped {
				t.Fatalf("page %d: %d rows, total %d, capped %v; want %d, 25, false", p.number, len(list.Rows), list.Total, list.Capped, p.rows)
			}
			for _, r := range list.Rows {
				if r.AccountID != f.Admin.AccountID() || r.CreatedByName == "" {
					t.Errorf("row %+v", r)
				}
				seen = append(seen, r.PublicID)
			}
		}
		want := slices.Clone(created)
		slices.Reverse(want)
		if !slices.Equal(seen, want) {
			t.Fatalf("not newest first, once each:\n%v\nwant\n%v", seen, want)
		}
		list, err := models.ListIntegrations(t.Context(), db, f.AdminPersonal, tenancy.Page{Number: 1, Size: 20})
		dbtest.Must(t, err)
		if list.Total != 1 || len(list.Rows) != 1 || list.Rows[0].Name != "Personal" {
			t.Errorf("personal account lists %d (total %d)", len(list.Rows), list.Total)
		}
	})
}

// TestIntegrationsSharedInOrganization: every member creates, edits and
// deletes any of the organization's integrations.
func TestIntegrationsSharedInOrganization(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		byAdmin := newIntegration(t, db, f.Admin, "By admin")
		byMember := newIntegration(t, db, f.Member, "By member")
		for _, s := range []tenancy.Scope{f.Admin, f.Member, f.Member2} {
			for _, it := range []models.S3Integration{byAdmin, byMember} {
				_, err := models.GetIntegration(t.Context(), db, s, it.PublicID)
				dbtest.Must(t, err)
			}
		}
		in := integrationInput("Edited by member2")
		in.Region = "ap-south-1"
		_, err := models.UpdateIntegration(t.Context(), db, f.Member2, byAdmin.PublicID, in)
		dbtest.Must(t, err)
		row, err := models.GetIntegration(t.Context(), db, f.Admin, byAdmin.PublicID)
		dbtest.Must(t, err)
		if row.Name != "Edited by member2" || row.Region != "ap-south-1" || row.CreatedByName != f.AdminUser.Name {
			t.Errorf("after a member's edit: %+v by %q", row.S3Integration, row.CreatedByName)
		}
		del, err := models.DeleteIntegration(t.Context(), db, f.Member, byAdmin.PublicID)
		dbtest.Must(t, err)
		if del.ID != byAdmin.ID {
			t.Errorf("deleted %+v", del)
		}
		_, err = models.GetIntegration(t.Context(), db, f.Admin, byAdmin.PublicID)
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		if n := dbtest.CountRows(t, db, "s3_integrations", "id = ?", byAdmin.ID); n != 0 {
			t.Error("the integration remains")
		}
		before := snapshot(t, db)
		_, err = models.DeleteIntegration(t.Context(), db, f.Admin, byAdmin.PublicID)
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		wantUnchanged(t, db, before)
		_, err = models.DeleteIntegration(t.Context(), db, f.Admin, byMember.PublicID)
		dbtest.Must(t, err)
	})
}

// TestIntegrationsCrossAccount: another account's integration behaves like a
// missing one and nothing changes.
func TestIntegrationsCrossAccount(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		mine := newIntegration(t, db, f.Admin, "Mine")
		for label, victim := range map[string]tenancy.Scope{
			"another organization":             f.Other,
			"another user's personal account":  f.OtherPersonal,
			"the same user's personal account": f.AdminPersonal,
		} {
			t.Run(label, func(t *testing.T) {
				theirs := newIntegration(t, db, victim, dbtest.Unique("Theirs "))
				before := snapshot(t, db)
				_, err := models.GetIntegration(t.Context(), db, f.Admin, theirs.PublicID)
				dbtest.WantIs(t, err, tenancy.ErrNotFound)
				_, err = models.UpdateIntegration(t.Context(), db, f.Admin, theirs.PublicID, integrationInput("Stolen"))
				dbtest.WantIs(t, err, tenancy.ErrNotFound)
				_, err = models.UpdateIntegration(t.Context(), db, f.Admin, theirs.PublicID, models.IntegrationInput{})
				dbtest.WantIs(t, err, tenancy.ErrNotFound) // not a validation error that confirms the ID
				_, err = models.DeleteIntegration(t.Context(), db, f.Admin, theirs.PublicID)
				dbtest.WantIs(t, err, tenancy.ErrNotFound)
				_, err = models.GetIntegration(t.Context(), db, victim, mine.PublicID)
				dbtest.WantIs(t, err, tenancy.ErrNotFound)
				_, err = models.UpdateIntegration(t.Context(), db, victim, mine.PublicID, integrationInput("Stolen"))
				dbtest.WantIs(t, err, tenancy.ErrNotFound)
				_, err = models.DeleteIntegration(t.Context(), db, victim, mine.PublicID)
				dbtest.WantIs(t, err, tenancy.ErrNotFound)
				list, err := models.ListIntegrations(t.Context(), db, f.Admin, tenancy.Page{Number: 1, Size: 50})
				dbtest.Must(t, err)
				if list.Total != 1 || len(list.Rows) != 1 || list.Rows[0].ID != mine.ID {
					t.Errorf("list of %d (total %d), want only Mine", len(list.Rows), list.Total)
				}
				wantUnchanged(t, db, before)
			})
		}
	})
}
