package scim

import (
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	filter "github.com/scim2/filter-parser/v2"
)

// ErrInvalidFilter: the filter is not SCIM filter syntax, or asks for
// something the service does not filter by (RFC 7644 §3.4.2.2: 400
// invalidFilter).
var ErrInvalidFilter = errors.New("invalid filter")

// Filter is the one condition a list may be filtered by: an attribute
// ("userName", "externalId", "email" for users; "displayName",
// "externalId" for groups) equal to a value. The zero Filter lists all.
type Filter struct {
	Attr  string
	Value string
}

// Filter attributes.
const (
	AttrUserName    = "userName"
	AttrExternalID  = "externalId"
	AttrEmail       = "email"
	AttrDisplayName = "displayName"
)

const (
	userSchemaURI  = "urn:ietf:params:scim:schemas:core:2.0:User"
	groupSchemaURI = "urn:ietf:params:scim:schemas:core:2.0:Group"
)

// ParseUserFilter reads a Users filter: `userName eq "…"`, `externalId eq
// "…"`, or an email: `emails[type eq "work"].value eq "…"` (as Entra sends
// it), `emails[type eq "work" and value eq "…"]`, `emails.value eq "…"`,
// `emails[value eq "…"]`. Attribute names and operators are
// case-insensitive (RFC 7644 §3.4.2.2). Anything else is ErrInvalidFilter.
func ParseUserFilter(raw string) (Filter, error) {
	e, err := parse(raw)
	if err != nil {
		return Filter{}, err
	}
	switch e := e.(type) {
	case *filter.AttributeExpression:
		name, ok := attrName(e.AttributePath, userSchemaURI)
		if !ok {
			return Filter{}, ErrInvalidFilter
		}
		sub := strings.ToLower(e.AttributePath.SubAttributeName())
		switch {
		case name == "username" && sub == "":
			return eqString(AttrUserName, e)
		case name == "externalid" && sub == "":
			return eqString(AttrExternalID, e)
		case name == "emails" && sub == "value":
			return eqString(AttrEmail, e)
		}
	case *filter.ValuePath:
		name, ok := attrName(e.AttributePath, userSchemaURI)
		if !ok || name != "emails" || e.AttributePath.SubAttribute != nil {
			return Filter{}, ErrInvalidFilter
		}
		return emailCondition(e.ValueFilter)
	}
	return Filter{}, ErrInvalidFilter
}

// ParseGroupFilter reads a Groups filter: `displayName eq "…"` or
// `externalId eq "…"`.
func ParseGroupFilter(raw string) (Filter, error) {
	e, err := parse(raw)
	if err != nil {
		return Filter{}, err
	}
	a, ok := e.(*filter.AttributeExpression)
	if !ok || a.AttributePath.SubAttribute != nil {
		return Filter{}, ErrInvalidFilter
	}
	switch name, ok := attrName(a.AttributePath, groupSchemaURI); {
	case ok && name == "displayname":
		return eqString(AttrDisplayName, a)
	case ok && name == "externalid":
		return eqString(AttrExternalID, a)
	}
	return Filter{}, ErrInvalidFilter
}

// parse parses a filter, first rewriting a value path followed by a
// sub-attribute comparison (`emails[type eq "work"].value eq "x"`, which
// Entra sends though the filter grammar has no such form) into the
// equivalent value filter (`emails[type eq "work" and value eq "x"]`).
func parse(raw string) (filter.Expression, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > 1000 {
		return nil, ErrInvalidFilter
	}
	if end, ok := bracket(raw); ok && end+1 < len(raw) && raw[end+1] == '.' {
		raw = raw[:end] + " and " + raw[end+2:] + "]"
	}
	e, err := filter.ParseFilter([]byte(raw))
	if err != nil || e == nil {
		return nil, ErrInvalidFilter
	}
	return e, nil
}

// bracket finds the ']' closing the first '[' outside a string.
func bracket(s string) (end int, ok bool) {
	open := -1
	inString, escaped := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && c == '[' && open < 0:
			open = i
		case !inString && c == ']' && open >= 0:
			return i, true
		}
	}
	return 0, false
}

// attrName is a path's attribute name, lower-cased, when its URI prefix is
// absent or the resource's own schema.
func attrName(p filter.AttributePath, schema string) (string, bool) {
	if p.URIPrefix != nil && !strings.EqualFold(*p.URIPrefix, schema) {
		return "", false
	}
	return strings.ToLower(p.AttributeName), true
}

// emailCondition reads the filter inside emails[…]: `value eq "…"`,
// optionally and-ed with `type eq "work"`.
func emailCondition(e filter.Expression) (Filter, error) {
	switch e := e.(type) {
	case *filter.AttributeExpression:
		if isSub(e, "value") {
			return eqString(AttrEmail, e)
		}
	case *filter.LogicalExpression:
		if e.Operator != filter.AND {
			return Filter{}, ErrInvalidFilter
		}
		l, lok := e.Left.(*filter.AttributeExpression)
		r, rok := e.Right.(*filter.AttributeExpression)
		if !lok || !rok {
			return Filter{}, ErrInvalidFilter
		}
		if isSub(r, "type") {
			l, r = r, l
		}
		if !isSub(l, "type") || !isSub(r, "value") {
			return Filter{}, ErrInvalidFilter
		}
		t, err := eqString("type", l)
		if err != nil || !strings.EqualFold(t.Value, "work") {
			return Filter{}, ErrInvalidFilter
		}
		return eqString(AttrEmail, r)
	}
	return Filter{}, ErrInvalidFilter
}

func isSub(e *filter.AttributeExpression, name string) bool {
	return e.AttributePath.URIPrefix == nil && e.AttributePath.SubAttribute == nil && strings.EqualFold(e.AttributePath.AttributeName, name)
}

// eqString is an `eq` comparison with a string, its escapes decoded.
func eqString(attr string, e *filter.AttributeExpression) (Filter, error) {
	if !strings.EqualFold(string(e.Operator), string(filter.EQ)) {
		return Filter{}, ErrInvalidFilter
	}
	raw, ok := e.CompareValue.(string)
	if !ok {
		return Filter{}, ErrInvalidFilter
	}
	var v string
	if err := json.Unmarshal([]byte(`"`+raw+`"`), &v); err != nil || strings.ContainsRune(v, 0) || !utf8.ValidString(v) {
		// No value the database keeps holds a NUL.
		return Filter{}, ErrInvalidFilter
	}
	return Filter{Attr: attr, Value: v}, nil
}
