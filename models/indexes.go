package models

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"switchboard/models/tenancy"
)

// Video models an index can use, and their options.
const (
	ModelMarengo = "marengo" // search and embeddings
	ModelPegasus = "pegasus" // text generation
	OptionVisual = "visual"
	OptionAudio  = "audio"
)

// VideoModels lists the models in display order.
var VideoModels = []string{ModelMarengo, ModelPegasus}

// ModelOptions lists the options of every model in display order.
var ModelOptions = []string{OptionVisual, OptionAudio}

// AddonThumbnail makes thumbnails of an index's videos.
const AddonThumbnail = "thumbnail"

// IndexAddons lists the add-ons an index can be created with.
var IndexAddons = []string{AddonThumbnail}

// Visibility says who in an organization sees an index.
type Visibility string

const (
	// VisibilityAccount: every member of the account.
	VisibilityAccount Visibility = "account"
	// VisibilityPrivate: only its creator, administrators included.
	VisibilityPrivate Visibility = "private"
)

// Index is a collection of videos indexed with one or two video models.
// VideoCount and TotalDuration are kept up to date as videos come and go,
// so that lists never count videos.
type Index struct {
	ID             int64
	PublicID       string
	AccountID      int64
	Name           string
	NameKey        string
	MarengoOptions string // comma-separated options; empty when the model is off
	PegasusOptions string
	Addons         string // comma-separated add-ons, fixed at creation; empty for none
	Visibility     Visibility
	// NameScope is 0 for indexes every member sees and the creator's user
	// ID for private ones: names are unique within what one member sees.
	NameScope     int64
	CreatedByID   *int64
	VideoCount    int64
	TotalDuration int64
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// TableName is "indexes" (GORM's inflection would say "indices").
func (Index) TableName() string { return "indexes" }

// IndexModel is one model of an index with its options.
type IndexModel struct {
	Name    string
	Options []string
}

// Models lists the index's models in display order.
func (i Index) Models() []IndexModel {
	var out []IndexModel
	for _, m := range VideoModels {
		if opts := i.optionsOf(m); opts != "" {
			out = append(out, IndexModel{Name: m, Options: strings.Split(opts, ",")})
		}
	}
	return out
}

func (i Index) optionsOf(model string) string {
	if model == ModelMarengo {
		return i.MarengoOptions
	}
	return i.PegasusOptions
}

// AddonList lists the index's add-ons; empty, not nil, when it has none.
func (i Index) AddonList() []string {
	if i.Addons == "" {
		return []string{}
	}
	return strings.Split(i.Addons, ",")
}

// Private reports whether only the creator sees the index.
func (i Index) Private() bool { return i.Visibility == VisibilityPrivate }

// IndexRow is an index with its creator's name, as lists and pages show it.
type IndexRow struct {
	Index
	CreatedByName string
}

// IndexInput is what creating an index takes: a name, the models chosen, the
// options of each, and (in an organization) the visibility.
type IndexInput struct {
	Name           string
	Models         []string
	MarengoOptions []string
	PegasusOptions []string
	Addons         []string // of IndexAddons
	Visibility     string
}

// Index names: 1–100 characters once trimmed.
const IndexNameMax = 100

func validateIndexName(name string) (string, tenancy.FieldErrors) {
	name = strings.TrimSpace(name)
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		return name, tenancy.FieldErrors{"name": "Enter a name for the index."}
	case n > IndexNameMax:
		return name, tenancy.FieldErrors{"name": fmt.Sprintf("The name must be at most %d characters.", IndexNameMax)}
	}
	if msg := tenancy.NameProblem("The name", name); msg != "" {
		return name, tenancy.FieldErrors{"name": msg}
	}
	return name, nil
}

// normalizeOptions keeps known options, once each, in display order; ok is
// false when an unknown one was sent.
func normalizeOptions(in []string) (string, bool) {
	var out []string
	ok := true
	for _, o := range ModelOptions {
		if slices.Contains(in, o) {
			out = append(out, o)
		}
	}
	for _, o := range in {
		if !slices.Contains(ModelOptions, o) {
			ok = false
		}
	}
	return strings.Join(out, ","), ok
}

// validateModels checks the chosen models and their options: at least one
// model, at least one known option for each chosen model.
func validateModels(in IndexInput) (marengo, pegasus string, fe tenancy.FieldErrors) {
	fe = tenancy.FieldErrors{}
	for _, m := range in.Models {
		if !slices.Contains(VideoModels, m) {
			fe["model"] = "Choose Marengo, Pegasus or both."
		}
	}
	if len(in.Models) == 0 {
		fe["model"] = "Choose at least one video model."
	}
	pick := func(model, field, label string, sent []string) string {
		if !slices.Contains(in.Models, model) {
			return ""
		}
		opts, ok := normalizeOptions(sent)
		switch {
		case !ok:
			fe[field] = "Options are visual and audio."
		case opts == "":
			fe[field] = "Choose visual, audio or both for " + label + "."
		}
		return opts
	}
	marengo = pick(ModelMarengo, "marengo_options", "Marengo", in.MarengoOptions)
	pegasus = pick(ModelPegasus, "pegasus_options", "Pegasus", in.PegasusOptions)
	return marengo, pegasus, fe
}

// normalizeAddons keeps known add-ons, once each, in IndexAddons' order; ok
// is false when an unknown one was sent.
func normalizeAddons(in []string) (string, bool) {
	var out []string
	for _, a := range IndexAddons {
		if slices.Contains(in, a) {
			out = append(out, a)
		}
	}
	for _, a := range in {
		if !slices.Contains(IndexAddons, a) {
			return "", false
		}
	}
	return strings.Join(out, ","), true
}

// visibilityFor decides an index's visibility from a form's value. In a
// personal account everything is private to its owner already: the value
// is ignored.
func visibilityFor(s tenancy.Scope, sent string) (Visibility, tenancy.FieldErrors) {
	if s.IsPersonal() {
		return VisibilityAccount, nil
	}
	switch Visibility(sent) {
	case "", VisibilityAccount:
		return VisibilityAccount, nil
	case VisibilityPrivate:
		return VisibilityPrivate, nil
	}
	return "", tenancy.FieldErrors{"visibility": "Choose who can see the index."}
}

func nameScope(v Visibility, creator int64) int64 {
	if v == VisibilityPrivate {
		return creator
	}
	return 0
}

// visibleIndexes is the one place index visibility is decided: the scope's account,
// and of its private indexes only the user's own.
func visibleIndexes(s tenancy.Scope, db *gorm.DB) *gorm.DB {
	return s.Apply(db.Model(&Index{})).
		Where("(indexes.visibility = ? OR indexes.created_by_id = ?)", VisibilityAccount, s.UserID())
}

// nameTaken reports whether the user already sees an index with this name
// in the scope's account (shared ones and their own private ones), other
// than the one with exceptID.
func nameTaken(tx *gorm.DB, s tenancy.Scope, user int64, key string, exceptID int64) (bool, error) {
	var n int64
	err := s.Apply(tx.Model(&Index{})).
		Where("name_key = ? AND (name_scope = 0 OR name_scope = ?) AND id <> ?", key, user, exceptID).
		Count(&n).Error
	return n > 0, err
}

// ErrIndexNameTaken is wrapped, with the form's FieldErrors, by the error of a
// duplicate index name, for callers (the API) that answer with a code.
var ErrIndexNameTaken = errors.New("index name already exists")

func nameTakenError(name string) error {
	return fmt.Errorf("%w: %w", ErrIndexNameTaken, tenancy.FieldErrors{"name": "An index named “" + name + "” already exists in this account."})
}

// CreateIndex creates an index in the scope's account, created by the
// scope's user.
func CreateIndex(ctx context.Context, db *gorm.DB, s tenancy.Scope, in IndexInput) (Index, error) {
	if err := s.Require(tenancy.CapUseResources); err != nil {
		return Index{}, err
	}
	name, fe := validateIndexName(in.Name)
	if fe == nil {
		fe = tenancy.FieldErrors{}
	}
	marengo, pegasus, mfe := validateModels(in)
	for k, v := range mfe {
		fe[k] = v
	}
	vis, vfe := visibilityFor(s, in.Visibility)
	for k, v := range vfe {
		fe[k] = v
	}
	addons, ok := normalizeAddons(in.Addons)
	if !ok {
		fe["addons"] = addonsMessage()
	}
	if err := fe.OrNil(); err != nil {
		return Index{}, err
	}
	creator := s.UserID()
	idx := Index{
		PublicID: tenancy.NewObjectID(), Name: name, NameKey: strings.ToLower(name),
		MarengoOptions: marengo, PegasusOptions: pegasus, Addons: addons,
		Visibility: vis, NameScope: nameScope(vis, creator), CreatedByID: &creator,
	}
	err := s.Write(ctx, db, func(tx *gorm.DB) error {
		taken, err := nameTaken(tx, s, s.UserID(), idx.NameKey, 0)
		if err != nil {
			return err
		}
		if taken {
			return nameTakenError(name)
		}
		err = s.Apply(tx).Create(&idx).Error
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return nameTakenError(name)
		}
		return err
	})
	return idx, err
}

// GetIndex returns an index the scope may see; another account's index and
// another member's private one are ErrNotFound, like a missing one.
func GetIndex(ctx context.Context, db *gorm.DB, s tenancy.Scope, publicID string) (IndexRow, error) {
	var row IndexRow
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		return visibleIndexes(s, tx).
			Select("indexes.*, users.name AS created_by_name").
			Joins("LEFT JOIN users ON users.id = indexes.created_by_id").
			Where("indexes.public_id = ?", publicID).
			Take(&row).Error
	})
	return row, tenancy.NotFound(err)
}

// IndexUpdate is what can change on an index: its name and, for its creator
// in an organization, its visibility ("" leaves it).
type IndexUpdate struct {
	Name       string
	Visibility string
}

// UpdateIndex renames an index and changes its visibility. Only the creator
// may change who sees it; models are fixed once created.
func UpdateIndex(ctx context.Context, db *gorm.DB, s tenancy.Scope, publicID string, in IndexUpdate) (Index, error) {
	if err := s.Require(tenancy.CapUseResources); err != nil {
		return Index{}, err
	}
	var idx Index
	err := s.Write(ctx, db, func(tx *gorm.DB) error {
		row, err := GetIndex(ctx, tx, s, publicID)
		if err != nil {
			return err
		}
		idx = row.Index
		name, fe := validateIndexName(in.Name)
		if fe == nil {
			fe = tenancy.FieldErrors{}
		}
		vis := idx.Visibility
		if in.Visibility != "" && !s.IsPersonal() {
			v, vfe := visibilityFor(s, in.Visibility)
			switch {
			case vfe != nil:
				fe["visibility"] = vfe["visibility"]
			case v != idx.Visibility && (idx.CreatedByID == nil || *idx.CreatedByID != s.UserID()):
				fe["visibility"] = "Only the index's creator can change who sees it."
			default:
				vis = v
			}
		}
		if err := fe.OrNil(); err != nil {
			return err
		}
		key := strings.ToLower(name)
		owner := s.UserID()
		if idx.CreatedByID != nil {
			owner = *idx.CreatedByID
		}
		if key != idx.NameKey || vis != idx.Visibility {
			taken, err := nameTaken(tx, s, s.UserID(), key, idx.ID)
			if err != nil {
				return err
			}
			if taken {
				return nameTakenError(name)
			}
		}
		idx.Name, idx.NameKey, idx.Visibility, idx.NameScope, idx.UpdatedAt = name, key, vis, nameScope(vis, owner), tenancy.Now()
		err = s.Apply(tx.Model(&Index{})).Where("id = ?", idx.ID).Updates(map[string]any{
			"name": idx.Name, "name_key": idx.NameKey, "visibility": idx.Visibility,
			"name_scope": idx.NameScope, "updated_at": idx.UpdatedAt,
		}).Error
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return nameTakenError(name)
		}
		return err
	})
	return idx, err
}

// DeleteIndex deletes an index the scope sees, with its videos.
func DeleteIndex(ctx context.Context, db *gorm.DB, s tenancy.Scope, publicID string) (Index, error) {
	if err := s.Require(tenancy.CapUseResources); err != nil {
		return Index{}, err
	}
	var idx Index
	err := s.Write(ctx, db, func(tx *gorm.DB) error {
		row, err := GetIndex(ctx, tx, s, publicID)
		if err != nil {
			return err
		}
		idx = row.Index
		if err := s.Apply(tx).Where("index_id = ?", idx.ID).Delete(&Video{}).Error; err != nil {
			return err
		}
		return s.Apply(tx).Where("id = ?", idx.ID).Delete(&Index{}).Error
	})
	return idx, err
}
