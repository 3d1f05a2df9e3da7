package models_test

import (
	"strings"
	"testing"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

func TestIndexAddonsAreCheckedOnce(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		_, s := dbtest.User(t, db)
		in := func(addons ...string) models.IndexInput {
			return models.IndexInput{Name: dbtest.Unique("ix"), Models: []string{models.ModelMarengo}, MarengoOptions: []string{models.OptionVisual}, Addons: addons}
		}
		for _, addons := range [][]string{{"confetti"}, {models.AddonThumbnail, ""}, {"Thumbnail"}} {
			_, err := models.CreateIndex(t.Context(), db, s, in(addons...))
			dbtest.WantFields(t, err, "addons")
			fe, _ := tenancy.AsFieldErrors(err)
			for _, a := range models.IndexAddons {
				if !strings.Contains(fe["addons"], a) {
					t.Errorf("%q: the message %q does not name the add-on %s", addons, fe["addons"], a)
				}
			}
		}
		idx, err := models.CreateIndex(t.Context(), db, s, in(models.AddonThumbnail, models.AddonThumbnail))
		dbtest.Must(t, err)
		if got := idx.AddonList(); len(got) != 1 || got[0] != models.AddonThumbnail {
			t.Fatalf("add-ons %q, want the thumbnail once", got)
		}
		idx, err = models.CreateIndex(t.Context(), db, s, in())
		dbtest.Must(t, err)
		if got := idx.AddonList(); got == nil || len(got) != 0 {
			t.Fatalf("add-ons %q, want an empty list", got)
		}
	})
}
