package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/tenancy"
)

// sessionCookie is the name of the session cookie.
const sessionCookie = "switchboard_session"

// Session values with a meaning of their own: the user, the active account
// and the role in it live in columns of the sessions table; every other key
// is a string kept in its data column. Keys starting with "_" are never
// written.
const (
	valUserID     = "user_id"
	valAccountID  = "account_id"
	valRole       = "active_role"           // a models.Role as a string; "" until loadScope learns it
	valSSOAccount = "sso_account_id"        // the organization whose IdP signed the session in
	valMethod     = "auth_method"           // a models.AuthMethod as a string
	valPending    = "second_factor_pending" // bool: the second factor is still owed
	valRecord     = "_record"               // the *models.Session loaded with the request
	// valPasswordAt is when the session last proved the user's password
	// (Unix seconds, as a string in the data column): at a sign-in that
	// took it, or confirming a change (passwordRecent).
	valPasswordAt = "password_at"
)

// ssoAccountOf is the organization whose IdP signed the session in; 0 when
// none did.
func ssoAccountOf(s *sessions.Session) int64 {
	id, _ := s.Values[valSSOAccount].(int64)
	return id
}

// dbStore is a gorilla/sessions store backed by the database: the cookie
// carries only a signed random token (256 bits); the database keeps its hash.
type dbStore struct {
	db     *gorm.DB
	codec  *securecookie.SecureCookie
	life   models.SessionLifetime
	secure bool
}

func newDBStore(db *gorm.DB, key []byte, life models.SessionLifetime, secure bool) *dbStore {
	codec := securecookie.New(key, nil)
	codec.MaxAge(int(life.Absolute / time.Second))
	codec.SetSerializer(securecookie.JSONEncoder{})
	return &dbStore{db: db, codec: codec, life: life, secure: secure}
}

func (st *dbStore) options() *sessions.Options {
	return &sessions.Options{
		Path:     "/",
		MaxAge:   int(st.life.Absolute / time.Second),
		HttpOnly: true,
		Secure:   st.secure,
		SameSite: http.SameSiteLaxMode,
	}
}

// Get returns the request's session, loading it once per request.
func (st *dbStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(st, name)
}

// New loads the session named by the request's cookie. A missing, forged,
// expired or idle cookie yields a new, empty session; only a database
// failure is an error.
func (st *dbStore) New(r *http.Request, name string) (*sessions.Session, error) {
	s := sessions.NewSession(st, name)
	s.Options = st.options()
	s.IsNew = true
	c, err := r.Cookie(name)
	if err != nil {
		return s, nil
	}
	var token string
	if err := st.codec.Decode(name, c.Value, &token); err != nil {
		return s, nil
	}
	rec, err := models.LoadSession(r.Context(), st.db, token, st.life)
	if errors.Is(err, tenancy.ErrNotFound) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	var data map[string]string
	if err := json.Unmarshal([]byte(rec.Data), &data); err != nil {
		data = nil // a damaged data column loses flashes, not the session
	}
	for k, v := range data {
		s.Values[k] = v
	}
	s.ID = strconv.FormatInt(rec.ID, 10)
	s.IsNew = false
	s.Values[valUserID] = rec.UserID
	if rec.ActiveAccountID != nil {
		s.Values[valAccountID] = *rec.ActiveAccountID
	}
	s.Values[valRole] = rec.ActiveRole
	if rec.SSOAccountID != nil {
		s.Values[valSSOAccount] = *rec.SSOAccountID
	}
	s.Values[valMethod] = string(rec.AuthMethod)
	s.Values[valPending] = rec.SecondFactorPending
	s.Values[valRecord] = &rec
	return s, nil
}

// Save writes the session. MaxAge < 0 deletes it; a session without an ID
// but with a user becomes a new row with a new token (sign-in); a session
// without a user is not stored at all. A session whose active account or
// known role changes gets a new token (and cookie), so that a token seen
// before the change is worth nothing after it.
func (st *dbStore) Save(r *http.Request, w http.ResponseWriter, s *sessions.Session) error {
	rec, _ := s.Values[valRecord].(*models.Session)
	if s.Options != nil && s.Options.MaxAge < 0 {
		return st.delete(r, w, s, rec)
	}
	userID, _ := s.Values[valUserID].(int64)
	if userID == 0 {
		return nil
	}
	v, err := sessionColumns(s)
	if err != nil {
		return err
	}
	if rec == nil || s.ID == "" {
		return st.create(r, w, s, userID, v)
	}
	var before int64
	if rec.ActiveAccountID != nil {
		before = *rec.ActiveAccountID
	}
	// A role learned for the first time ("" before) changes nothing.
	rotate := before != v.accountID || (rec.ActiveRole != "" && rec.ActiveRole != v.role)
	rec.ActiveAccountID = &v.accountID
	rec.ActiveRole = v.role
	rec.SSOAccountID = v.ssoAccount
	rec.AuthMethod, rec.SecondFactorPending = v.method, v.pending
	rec.Data = v.data
	rec.LastSeenAt = time.Now().UTC()
	if !rotate {
		return models.SaveSession(r.Context(), st.db, *rec)
	}
	token, rotated, err := models.RotateSession(r.Context(), st.db, *rec)
	if err != nil {
		return err
	}
	*rec = rotated
	return st.setCookie(w, s, token)
}

// columns are what a session's values store beyond its user.
type columns struct {
	accountID  int64
	role       string
	ssoAccount *int64
	method     models.AuthMethod
	pending    bool
	data       string // the other string values, as JSON
}

func sessionColumns(s *sessions.Session) (columns, error) {
	var v columns
	v.accountID, _ = s.Values[valAccountID].(int64)
	v.role, _ = s.Values[valRole].(string)
	if id, ok := s.Values[valSSOAccount].(int64); ok {
		v.ssoAccount = &id
	}
	method, _ := s.Values[valMethod].(string)
	v.method = models.AuthMethod(method)
	if v.method == "" {
		v.method = models.AuthPassword
	}
	v.pending, _ = s.Values[valPending].(bool)
	var err error
	v.data, err = encodeData(s.Values)
	return v, err
}

// delete removes the session's row, if it has one, and its cookie.
func (st *dbStore) delete(r *http.Request, w http.ResponseWriter, s *sessions.Session, rec *models.Session) error {
	if rec != nil {
		if err := models.DeleteSession(r.Context(), st.db, rec.ID); err != nil {
			return err
		}
	}
	http.SetCookie(w, sessions.NewCookie(s.Name(), "", &sessions.Options{Path: "/", MaxAge: -1, HttpOnly: true, Secure: st.secure, SameSite: http.SameSiteLaxMode}))
	return nil
}

// create stores a new session for the user, with a new token.
func (st *dbStore) create(r *http.Request, w http.ResponseWriter, s *sessions.Session, userID int64, v columns) error {
	ctx := r.Context()
	token, created, err := models.CreateSession(ctx, st.db, userID, v.accountID, clientIP(r), r.UserAgent(), st.life)
	if err != nil {
		return err
	}
	created.Data, created.SSOAccountID, created.ActiveRole = v.data, v.ssoAccount, v.role
	created.AuthMethod, created.SecondFactorPending = v.method, v.pending
	if v.data != "{}" || v.ssoAccount != nil || v.role != "" || v.method != models.AuthPassword || v.pending {
		if err := models.SaveSession(ctx, st.db, created); err != nil {
			return err
		}
	}
	s.ID = strconv.FormatInt(created.ID, 10)
	s.Values[valRecord] = &created
	return st.setCookie(w, s, token)
}

// setCookie gives the browser the session's token.
func (st *dbStore) setCookie(w http.ResponseWriter, s *sessions.Session, token string) error {
	encoded, err := st.codec.Encode(s.Name(), token)
	if err != nil {
		return err
	}
	http.SetCookie(w, sessions.NewCookie(s.Name(), encoded, st.options()))
	return nil
}

// encodeData keeps the session's string values for the data column.
func encodeData(values map[any]any) (string, error) {
	out := map[string]string{}
	for k, v := range values {
		key, ok := k.(string)
		if !ok || key == valUserID || key == valAccountID || key == valRole || key == valSSOAccount || key == valMethod || key == valPending || strings.HasPrefix(key, "_") {
			continue
		}
		str, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("session value %q is %T, not a string", key, v)
		}
		out[key] = str
	}
	b, err := json.Marshal(out)
	return string(b), err
}
