package projector

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/orb-sync/orb-sync/eventlog"
)

// Plans by version (issue 9 item 2): plan_versions keeps every version
// seen, plans shows the default one.

// planOn is a full subscription on version v of planID, the plan's
// description telling which event embedded it.
func planOn(t *testing.T, id, subID, planID string, v int, when int) eventlog.Event {
	s := subscriptionObj(t, subID, "cus_1", planID)
	plan := s["plan"].(map[string]any)
	plan["version"], plan["description"] = v, fmt.Sprintf("v%d from %s", v, id)
	return event(t, id, "subscription.edited", at(when), map[string]any{"subscription": s})
}

func versionCreated(t *testing.T, id, planID string, v, when int) eventlog.Event {
	return event(t, id, "plan.version_created", at(when), map[string]any{"plan": map[string]any{"id": planID, "name": "Pro"},
		"properties": map[string]any{"plan_version_number": v}})
}

func defaultSet(t *testing.T, id, planID string, v, when int) eventlog.Event {
	return event(t, id, "plan.default_version_set", at(when), map[string]any{"plan": map[string]any{"id": planID},
		"properties": map[string]any{"new_default_version_number": v, "previous_default_version_number": 2}})
}

func TestPlansShowTheDefaultVersion(t *testing.T) {
	t.Parallel()
	// Two subscriptions on two versions of one plan, edited in turn; then a
	// third version is created, version 1 is made the default, and a
	// subscription moves to version 3.
	events := []eventlog.Event{
		planOn(t, "evt_1", "sub_1", "plan_1", 1, 1),
		planOn(t, "evt_2", "sub_2", "plan_1", 2, 2),
		planOn(t, "evt_3", "sub_1", "plan_1", 1, 3),
		versionCreated(t, "evt_4", "plan_1", 3, 4),
		defaultSet(t, "evt_5", "plan_1", 1, 5),
		planOn(t, "evt_6", "sub_2", "plan_1", 2, 6),
		planOn(t, "evt_7", "sub_3", "plan_1", 3, 7),
	}
	for _, c := range []struct {
		name             string
		events           []eventlog.Event
		version, latest  float64
		dflt             any
		description      string
		versions         []string
		versionRowsDescs map[string]any
	}{
		// No default named: the highest version seen, however the newer
		// subscription event embeds version 1.
		{name: "before a default", events: events[:4], version: 2, latest: 2, dflt: nil, description: "v2 from evt_2",
			versions:         []string{"plan_1@1", "plan_1@2", "plan_1@3"},
			versionRowsDescs: map[string]any{"plan_1@1": "v1 from evt_3", "plan_1@2": "v2 from evt_2", "plan_1@3": nil}},
		// The default named, an older object of it shown; newer events on
		// other versions change only latest_version.
		{name: "after a default", events: events, version: 1, latest: 3, dflt: 1.0, description: "v1 from evt_3",
			versions:         []string{"plan_1@1", "plan_1@2", "plan_1@3"},
			versionRowsDescs: map[string]any{"plan_1@1": "v1 from evt_3", "plan_1@2": "v2 from evt_6", "plan_1@3": "v3 from evt_7"}},
	} {
		for _, order := range []string{"in order", "reversed"} {
			t.Run(c.name+"/"+order, func(t *testing.T) {
				t.Parallel()
				evs := slices.Clone(c.events)
				if order == "reversed" {
					slices.Reverse(evs)
				}
				b := shapeRun(t, "plans", bothBatchings, evs...)
				row := b.row(t, "plans", "plan_1")
				if row["version"] != c.version || row["latest_version"] != c.latest || row["default_version"] != c.dflt ||
					row["description"] != c.description || row["prices"] == nil {
					t.Errorf("plans row: version %v latest %v default %v description %q prices %t; want %v %v %v %q",
						row["version"], row["latest_version"], row["default_version"], row["description"], row["prices"] != nil,
						c.version, c.latest, c.dflt, c.description)
				}
				versions := b.rows(t, "plan_versions")
				for _, key := range c.versions {
					v, ok := versions[key]
					if !ok {
						t.Errorf("plan_versions has no %s", key)
						continue
					}
					if v["plan_id"] != "plan_1" || v["description"] != c.versionRowsDescs[key] {
						t.Errorf("plan_versions %s: plan_id %v description %v, want %v", key, v["plan_id"], v["description"], c.versionRowsDescs[key])
					}
				}
				if len(versions) != len(c.versions) {
					t.Errorf("plan_versions has %d rows, want %d", len(versions), len(c.versions))
				}
				b.checkRebuildMatches(t)
				b.checkHistoryMatchesCurrent(t)
			})
		}
	}
}

// TestPlanVersionsShuffled delivers one plan's history (subscriptions on
// three versions, new versions, defaults named) in order and shuffled, in
// several chunkings: plans, plan_versions and plans_history must come out
// the same, and a rebuild must match.
func TestPlanVersionsShuffled(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(9, 9))
	var events []eventlog.Event
	for i := range 40 {
		id, v := fmt.Sprintf("evt_%02d", i), 1+r.IntN(3)
		switch r.IntN(6) {
		case 0:
			events = append(events, defaultSet(t, id, "plan_1", v, i))
		case 1:
			events = append(events, versionCreated(t, id, "plan_1", v, i))
		default:
			events = append(events, planOn(t, id, fmt.Sprintf("sub_%d", r.IntN(3)), "plan_1", v, i))
		}
	}
	want := setup(t)
	want.appendInChunks(t, events, len(events), 1000)
	tables := []string{"plans", "plan_versions"}
	for _, seed := range []uint64{1, 2, 3, 4} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			shuffled := slices.Clone(events)
			rand.New(rand.NewPCG(seed, 0)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			got := setup(t)
			got.appendInChunks(t, shuffled, int(seed), int(seed))
			for _, table := range tables {
				sameRows(t, table, got.rows(t, table, colLastEventSeq), want.rows(t, table, colLastEventSeq))
			}
			sameRows(t, "plans_history", got.visibleVersions(t, "plans_history"), want.visibleVersions(t, "plans_history"))
			got.checkRebuildMatches(t)
			got.checkHistoryMatchesCurrent(t)
		})
	}
}

// TestDefaultNamedByAlias: a plan.default_version_set naming the plan only
// by external_plan_id sets the default once the alias resolves, in
// whichever order the events come.
func TestDefaultNamedByAlias(t *testing.T) {
	t.Parallel()
	byAlias := event(t, "evt_3", "plan.default_version_set", at(3), map[string]any{"plan": map[string]any{"external_plan_id": "ext_plan_1"},
		"properties": map[string]any{"new_default_version_number": 1, "previous_default_version_number": 2}})
	for _, order := range []string{"in order", "alias first"} {
		t.Run(order, func(t *testing.T) {
			t.Parallel()
			events := []eventlog.Event{planOn(t, "evt_1", "sub_1", "plan_1", 1, 1), planOn(t, "evt_2", "sub_2", "plan_1", 2, 2), byAlias}
			if order == "alias first" {
				slices.Reverse(events)
			}
			b := shapeRun(t, "plans", bothBatchings, events...)
			if row := b.row(t, "plans", "plan_1"); row["version"] != 1.0 || row["default_version"] != 1.0 {
				t.Errorf("plans row: version %v default %v, want 1 and 1", row["version"], row["default_version"])
			}
			b.checkRebuildMatches(t)
		})
	}
}
