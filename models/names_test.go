package models_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// hiddenRunes are the characters no name may hold: bidirectional controls,
// then zero-width and invisible characters.
var hiddenRunes = []rune{
	0x061C, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069,
	0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x180E, 0x00AD,
	// Invisible operators and the deprecated format controls.
	0x2061, 0x2062, 0x2063, 0x2064, 0x206A, 0x206B, 0x206C, 0x206D, 0x206E, 0x206F,
}

// hiddenNames puts each hidden character at the start, inside and at the
// end of an otherwise good name, and alone.
func hiddenNames() map[string]string {
	out := map[string]string{}
	for _, r := range hiddenRunes {
		c := string(r)
		out[fmt.Sprintf("U+%04X first", r)] = c + "Quarterly review"
		out[fmt.Sprintf("U+%04X inside", r)] = "invoice" + c + "fdp.exe"
		out[fmt.Sprintf("U+%04X last", r)] = "Quarterly review" + c
		out[fmt.Sprintf("U+%04X alone", r)] = c
	}
	return out
}

// lookalikeNames are names in other scripts and with symbols that must
// stay acceptable: right-to-left scripts are fine, only the invisible
// controls are not.
var lookalikeNames = []string{
	"Zoë Ångström", "Søren Kierkegaard", "محمد علي", "דוד בן־גוריון", "李小龙", "Ада Лавлейс",
	"Ελληνικά", "हिन्दी", "Team ☕ 42", "a-b_c.d (e) [f]", "l'équipe « vidéo »",
}

// nameWrite is one function that stores a name people read.
type nameWrite struct {
	label string
	field string
	write func(t *testing.T, name string) error
}

func TestNamesRefuseHiddenCharacters(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := t.Context()
		f := dbtest.NewOrgFixture(t, db)
		idx := dbtest.NewIndex(t, db, f.Admin, "Existing", "")
		it := newIntegration(t, db, f.Admin, "Existing")
		n := 0
		writes := []nameWrite{
			{"sign-up", "name", func(t *testing.T, name string) error {
				n++
				_, _, err := models.SignUp(ctx, db, models.SignUpInput{Name: name, Email: fmt.Sprintf("hidden%d@example.com", n), Password: goodPassword})
				return err
			}},
			{"renaming a user", "name", func(t *testing.T, name string) error {
				return models.RenameUser(ctx, db, f.MemberUser.ID, name)
			}},
			{"creating an organization", "name", func(t *testing.T, name string) error {
				_, err := models.CreateOrganization(ctx, db, f.MemberUser.ID, name)
				return err
			}},
			{"renaming an organization", "name", func(t *testing.T, name string) error {
				_, err := models.RenameOrganization(ctx, db, f.Admin, name, dbtest.ActorOf(f.AdminUser))
				return err
			}},
			{"creating an index", "name", func(t *testing.T, name string) error {
				_, err := models.CreateIndex(ctx, db, f.Admin, dbtest.IndexInput(name, ""))
				return err
			}},
			{"renaming an index", "name", func(t *testing.T, name string) error {
				_, err := models.UpdateIndex(ctx, db, f.Admin, idx.PublicID, models.IndexUpdate{Name: name})
				return err
			}},
			{"adding a video", "title", func(t *testing.T, name string) error {
				_, err := models.AddVideo(ctx, db, f.Admin, idx.PublicID, models.VideoInput{Title: name, URL: "https://example.com/v.mp4", DurationSeconds: "60"})
				return err
			}},
			{"creating an API key", "name", func(t *testing.T, name string) error {
				_, err := models.CreateAPIKey(ctx, db, f.Admin, name, time.Hour)
				return err
			}},
			{"creating an integration", "name", func(t *testing.T, name string) error {
				_, err := models.CreateIntegration(ctx, db, f.Admin, integrationInput(name))
				return err
			}},
			{"changing an integration", "name", func(t *testing.T, name string) error {
				_, err := models.UpdateIntegration(ctx, db, f.Admin, it.PublicID, integrationInput(name))
				return err
			}},
		}
		for _, w := range writes {
			t.Run(w.label, func(t *testing.T) {
				before := teamSnapshot(t, db)
				keys := dbtest.CountRows(t, db, "api_keys", "")
				for label, name := range hiddenNames() {
					err := w.write(t, name)
					fe, ok := tenancy.AsFieldErrors(err)
					if !ok || len(fe) != 1 || !strings.Contains(fe[w.field], "cannot contain invisible or direction-changing characters") {
						t.Errorf("%s: %q: error %v, want the one message on %s", label, name, err, w.field)
					}
				}
				wantTeamUnchanged(t, db, before)
				if got := dbtest.CountRows(t, db, "api_keys", ""); got != keys {
					t.Errorf("%d API keys written", got-keys)
				}
			})
		}
		// Other scripts, right-to-left ones included, are names like any
		// other.
		for j, w := range writes {
			t.Run(w.label+" in other scripts", func(t *testing.T) {
				for i, name := range lookalikeNames {
					if w.label == "creating an organization" && i > 0 {
						break // one organization per person
					}
					name = fmt.Sprintf("%s %d", name, j) // index names are unique
					if err := w.write(t, name); err != nil {
						t.Errorf("%q refused: %v", name, err)
					}
				}
			})
		}
	})
}

// The control characters keep their own message.
func TestNamesRefuseControlCharactersSaying(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		_, err := models.CreateIndex(t.Context(), db, f.Admin, dbtest.IndexInput("bad\x07name", ""))
		dbtest.WantFields(t, err, "name")
		if fe, _ := tenancy.AsFieldErrors(err); fe["name"] != "The name cannot contain control characters." {
			t.Errorf("message %q", fe["name"])
		}
		_, err = models.CreateIndex(t.Context(), db, f.Admin, dbtest.IndexInput("bad\u202Ename", ""))
		if fe, _ := tenancy.AsFieldErrors(err); fe["name"] != "The name cannot contain invisible or direction-changing characters." {
			t.Errorf("message %q", fe["name"])
		}
	})
}
