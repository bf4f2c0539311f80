package fold

import (
	"fmt"
	"strings"

	orbsql "github.com/orb-sync/orb-sync/sql"
)

// The SQL of a source whose object fans out (Source.Each): one candidate
// object per item of a JSON path over the event's object, each with its
// own entity id. The object is read once per event while ranking (fp.o);
// a winning item is read again by its id.

// fanFrom adds to a FROM clause over e the items of source s, as o.o.
func fanFrom(s Source) string {
	return fmt.Sprintf(" cross join lateral (select %s as o offset 0) fp cross join lateral jsonb_path_query(fp.o, %s) o(o)",
		rankObject(s), orbsql.QuoteLiteral(s.Each))
}

// refsObject is where the objects events.refs keeps the skeleton of sit.
const refsObject = "e.payload -> 'subscription'"

// rankObject is the object of source s as ranking reads it: from
// events.refs when the source may and the row has them (Source.Refs).
func rankObject(s Source) string {
	if !s.Refs {
		return s.Object
	}
	return "coalesce(e.refs, e.payload)" + strings.TrimPrefix(s.Object, "e.payload")
}

// fanWhere leaves out the items another source folds (Source.Except).
func fanWhere(s Source) string {
	if s.Except == "" {
		return ""
	}
	return fmt.Sprintf(" and not jsonb_path_exists(fp.o, %s, jsonb_build_object('id', o.o -> 'id'))",
		orbsql.QuoteLiteral(s.Except+" ? (@.id == $id)"))
}

// fanObject is the item of event e whose id is entity.
func fanObject(s Source, entity string) string {
	return fmt.Sprintf("jsonb_path_query_first(%s, %s, jsonb_build_object('id', %s))",
		s.Object, orbsql.QuoteLiteral(s.Each+" ? (@.id == $id)"), entity)
}

// fanIDs is the array of the items' ids of event e, as the migration
// indexes it (GIN, where it is not null).
func fanIDs(s Source) string {
	return fmt.Sprintf("jsonb_path_query_array(%s, %s)", s.Object, orbsql.QuoteLiteral(s.Each+".id"))
}

// fanLookup finds, by the GIN index, the events carrying an item whose id
// is among the late ids, and keeps only those items.
func fanLookup(s Source) string {
	return fmt.Sprintf("%s ?| l.ids and o.o ->> 'id' = any (l.ids)", fanIDs(s))
}

// sourceFrom adds to a FROM clause over e what ranking source s reads: its
// items, or its object when the id or version is inside it.
func sourceFrom(s Source) string {
	switch {
	case s.Each != "":
		return fanFrom(s)
	case needsObject(s):
		return fmt.Sprintf(" cross join lateral (select %s as o offset 0) o", rankObject(s))
	}
	return ""
}
