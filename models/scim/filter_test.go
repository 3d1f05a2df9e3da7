package scim_test

import (
	"errors"
	"testing"

	"switchboard/models/scim"
)

func TestParseUserFilter(t *testing.T) {
	t.Parallel()
	ok := []struct {
		raw  string
		want scim.Filter
	}{
		{`userName eq "ada@example.com"`, scim.Filter{Attr: scim.AttrUserName, Value: "ada@example.com"}},
		{`USERNAME EQ "Ada@Example.com"`, scim.Filter{Attr: scim.AttrUserName, Value: "Ada@Example.com"}},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a"`, scim.Filter{Attr: scim.AttrUserName, Value: "a"}},
		{`externalId eq "00u1"`, scim.Filter{Attr: scim.AttrExternalID, Value: "00u1"}},
		{`emails[type eq "work"].value eq "a@example.com"`, scim.Filter{Attr: scim.AttrEmail, Value: "a@example.com"}},
		{`emails[type eq "work" and value eq "a@example.com"]`, scim.Filter{Attr: scim.AttrEmail, Value: "a@example.com"}},
		{`emails[value eq "a@example.com" and type eq "Work"]`, scim.Filter{Attr: scim.AttrEmail, Value: "a@example.com"}},
		{`emails.value eq "a@example.com"`, scim.Filter{Attr: scim.AttrEmail, Value: "a@example.com"}},
		{`userName eq "quote\"d"`, scim.Filter{Attr: scim.AttrUserName, Value: `quote"d`}},
	}
	for _, c := range ok {
		got, err := scim.ParseUserFilter(c.raw)
		if err != nil || got != c.want {
			t.Errorf("%s: %+v, %v; want %+v", c.raw, got, err, c.want)
		}
	}
	for _, raw := range []string{
		``, `userName`, `userName eq`, `userName ne "a"`, `userName co "a"`, `userName sw "a"`, `userName pr`,
		`userName eq 7`, `userName eq true`, `userName eq null`, `displayName eq "a"`, `name.givenName eq "a"`,
		`userName eq "a" or externalId eq "b"`, `userName eq "a" and externalId eq "b"`, `not (userName eq "a")`,
		`emails[type eq "home"].value eq "a"`, `emails[type eq "work"].type eq "a"`, `emails[type eq "work"]`,
		`emails[type eq "work"].value eq "a" and userName eq "b"`, `emails[value co "a"]`,
		`urn:ietf:params:scim:schemas:core:2.0:Group:userName eq "a"`, `userName eq "a"]`, `((((`, `"]."`,
		`userName eq "a\u0000b"`,
	} {
		if got, err := scim.ParseUserFilter(raw); !errors.Is(err, scim.ErrInvalidFilter) {
			t.Errorf("%q: %+v, %v; want ErrInvalidFilter", raw, got, err)
		}
	}
}

func TestParseGroupFilter(t *testing.T) {
	t.Parallel()
	if got, err := scim.ParseGroupFilter(`displayName eq "Admins"`); err != nil || got != (scim.Filter{Attr: scim.AttrDisplayName, Value: "Admins"}) {
		t.Errorf("displayName: %+v, %v", got, err)
	}
	if got, err := scim.ParseGroupFilter(`externalId eq "x"`); err != nil || got.Attr != scim.AttrExternalID {
		t.Errorf("externalId: %+v, %v", got, err)
	}
	for _, raw := range []string{`userName eq "a"`, `members.value eq "a"`, `displayName sw "A"`} {
		if _, err := scim.ParseGroupFilter(raw); !errors.Is(err, scim.ErrInvalidFilter) {
			t.Errorf("%q: %v", raw, err)
		}
	}
}

func FuzzParseUserFilter(f *testing.F) {
	for _, s := range []string{`userName eq "a"`, `emails[type eq "work"].value eq "a"`, `a[b]."c"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if got, err := scim.ParseUserFilter(raw); err == nil && got.Attr == "" {
			t.Fatalf("%q parsed into an empty filter", raw)
		}
	})
}
