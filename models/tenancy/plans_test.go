package tenancy_test

import (
	"slices"
	"testing"

	"switchboard/models/tenancy"
)

func TestPlansInOrder(t *testing.T) {
	t.Parallel()
	want := []tenancy.Plan{tenancy.PlanFree, tenancy.PlanDeveloper, tenancy.PlanEnterprise}
	if got := tenancy.Plans(); !slices.Equal(got, want) {
		t.Fatalf("Plans() = %v, want %v", got, want)
	}
	for i, p := range want {
		if p.Rank() != i {
			t.Errorf("%s ranks %d, want %d", p, p.Rank(), i)
		}
	}
	if tenancy.Plan("platinum").Rank() != tenancy.PlanFree.Rank() {
		t.Error("an unknown plan does not rank as Free")
	}
}

func TestPlanSwitches(t *testing.T) {
	t.Parallel()
	free, dev, ent := tenancy.PlanFree, tenancy.PlanDeveloper, tenancy.PlanEnterprise
	cases := []struct {
		from, to tenancy.Plan
		want     bool
	}{
		{free, dev, true},
		{dev, free, true},
		{free, free, false},
		{dev, dev, false},
		{free, ent, false}, // Enterprise is requested, not chosen
		{dev, ent, false},
		{ent, free, false}, // a contract is left through us
		{ent, dev, false},
		{ent, ent, false},
		{free, "platinum", false},
	}
	for _, tc := range cases {
		if got := tc.from.CanSwitchTo(tc.to); got != tc.want {
			t.Errorf("%s.CanSwitchTo(%s) = %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
	for _, p := range tenancy.Plans() {
		if p.ByContract() == p.SelfServe() {
			t.Errorf("%s: ByContract %v, SelfServe %v; a plan is one or the other", p, p.ByContract(), p.SelfServe())
		}
	}
}
