//! Measures a document once every fragment spread is inlined, the way async-graphql's own checks,
//! validation and execution walk it: how many fields it selects, how deep its ordinary selections
//! nest, and how much of async-graphql's complexity is introspection. Fragments that each spread
//! the previous one twice double per line: 1 KB of text asks for 2^24 fields, and every other limit
//! passes. Each fragment is measured once (memoized, no recursion across fragments), so measuring
//! is linear in the document; sums saturate; a fragment cycle is reported, never followed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::Name;

use super::introspection::is_introspection_field;

/// A fragment that spreads itself, directly or through others (validation would refuse it, but
/// async-graphql walks spreads before validating).
#[derive(Debug, PartialEq, Eq)]
pub struct FragmentCycle(pub String);

/// What a document asks for with its fragments inlined.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Expansion {
    /// Every field, `__typename` included: what `--max-expanded-fields` caps.
    pub fields: usize,
    /// The longest chain of fields outside `__schema` / `__type`, counted as async-graphql's
    /// `limit_depth` counts it (`__typename` is no level).
    pub depth: usize,
    /// Fields (not `__typename`) inside `__schema` / `__type`: each costs 1 in async-graphql's
    /// complexity, since introspection types declare no complexity of their own.
    pub introspection: usize,
}

/// A set's or fragment's measure; `cost` (fields async-graphql visits, all but `__typename`) is
/// what the set adds to `introspection` when spread inside `__schema` / `__type`.
#[derive(Clone, Copy, Default)]
struct Measure {
    expansion: Expansion,
    cost: usize,
}

/// Where a selection sits, which decides what its fields count for.
#[derive(Clone, Copy)]
enum Place {
    /// Under this many ordinary fields.
    Ordinary(usize),
    /// Inside `__schema` / `__type`.
    Introspection,
    /// Below `__typename`, which async-graphql neither visits nor counts (only `fields` sees it).
    Hidden,
}

impl Measure {
    /// Adds `child`, a measure of a selection set at `place`.
    fn add(&mut self, place: Place, child: &Measure) {
        let (own, theirs) = (&mut self.expansion, &child.expansion);
        own.fields = own.fields.saturating_add(theirs.fields);
        match place {
            Place::Ordinary(above) => {
                self.cost = self.cost.saturating_add(child.cost);
                own.depth = own.depth.max(above.saturating_add(theirs.depth));
                own.introspection = own.introspection.saturating_add(theirs.introspection);
            }
            Place::Introspection => {
                self.cost = self.cost.saturating_add(child.cost);
                own.introspection = own.introspection.saturating_add(child.cost);
            }
            Place::Hidden => {}
        }
    }
}

/// A spread as written, with its place.
struct Spread<'a> {
    name: &'a Name,
    place: Place,
}

/// What one selection set (nested sets included) measures as written, and the fragments it spreads.
struct Written<'a> {
    measure: Measure,
    spreads: Vec<Spread<'a>>,
}

impl<'a> Written<'a> {
    /// Recursion here follows braces only, which the nesting pre-scan has bounded.
    fn of(set: &'a SelectionSet) -> Self {
        let mut written = Self { measure: Measure::default(), spreads: Vec::new() };
        written.add(set, Place::Ordinary(0));
        written
    }

    fn add(&mut self, set: &'a SelectionSet, place: Place) {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    let inner = match place {
                        _ if name == "__typename" => Place::Hidden,
                        Place::Hidden => Place::Hidden,
                        Place::Ordinary(_) if is_introspection_field(name) => Place::Introspection,
                        Place::Introspection => Place::Introspection,
                        Place::Ordinary(above) => Place::Ordinary(above + 1),
                    };
                    let one = Measure {
                        expansion: Expansion {
                            fields: 1,
                            depth: usize::from(matches!(inner, Place::Ordinary(_))),
                            introspection: usize::from(matches!(inner, Place::Introspection)),
                        },
                        cost: usize::from(!matches!(inner, Place::Hidden)),
                    };
                    self.measure.add(place, &one);
                    self.add(&field.node.selection_set.node, inner);
                }
                Selection::FragmentSpread(spread) => self.spreads.push(Spread { name: &spread.node.fragment_name.node, place }),
                Selection::InlineFragment(inline) => self.add(&inline.node.selection_set.node, place),
            }
        }
    }
}

enum Status {
    InProgress,
    Done(Measure),
}

/// Measures every operation in `document` (validation walks them all) with each fragment spread
/// replaced by the fragment's own measure. A spread of an unknown fragment counts 1 field, so
/// piles of them cannot multiply unseen either (validation refuses them later).
pub fn expand(document: &ExecutableDocument) -> Result<Expansion, FragmentCycle> {
    let fragments: HashMap<&Name, Written> = document.fragments.iter().map(|(name, f)| (name, Written::of(&f.node.selection_set.node))).collect();
    let mut measured = HashMap::new();
    let mut total = Expansion::default();
    for (_, operation) in document.operations.iter() {
        let written = Written::of(&operation.node.selection_set.node);
        let mut measure = written.measure;
        for spread in &written.spreads {
            measure.add(spread.place, &fragment_measure(spread.name, &fragments, &mut measured)?);
        }
        let one = measure.expansion;
        total.fields = total.fields.saturating_add(one.fields);
        total.depth = total.depth.max(one.depth);
        total.introspection = total.introspection.saturating_add(one.introspection);
    }
    Ok(total)
}

/// A fragment being measured: where its parent spreads it, how many of its own spreads are
/// done, and its measure so far.
struct Frame<'a> {
    name: &'a Name,
    place: Place,
    next: usize,
    sum: Measure,
}

/// What a spread of `name` contributes, if known already.
enum Entry {
    Known(Measure),
    /// Not measured yet: start on it with its written measure.
    Start(Measure),
}

const UNKNOWN_FRAGMENT: Measure = Measure { expansion: Expansion { fields: 1, depth: 0, introspection: 0 }, cost: 0 };

fn enter<'a>(name: &'a Name, fragments: &HashMap<&'a Name, Written<'a>>, measured: &mut HashMap<&'a Name, Status>) -> Result<Entry, FragmentCycle> {
    match (measured.get(name), fragments.get(name)) {
        (Some(Status::Done(m)), _) => Ok(Entry::Known(*m)),
        (Some(Status::InProgress), _) => Err(FragmentCycle(name.to_string())),
        (None, None) => Ok(Entry::Known(UNKNOWN_FRAGMENT)),
        (None, Some(written)) => {
            measured.insert(name, Status::InProgress);
            Ok(Entry::Start(written.measure))
        }
    }
}

/// The measure of fragment `root`, depth-first with an explicit stack: a chain of thousands of
/// fragments must not recurse thousands of frames deep.
fn fragment_measure<'a>(
    root: &'a Name,
    fragments: &HashMap<&'a Name, Written<'a>>,
    measured: &mut HashMap<&'a Name, Status>,
) -> Result<Measure, FragmentCycle> {
    let spreads_of = |name: &Name| fragments.get(name).map_or(&[][..], |w| &w.spreads[..]);
    let mut stack = match enter(root, fragments, measured)? {
        Entry::Known(m) => return Ok(m),
        Entry::Start(m) => vec![Frame { name: root, place: Place::Ordinary(0), next: 0, sum: m }],
    };
    let mut root_measure = Measure::default();
    while let Some(frame) = stack.last_mut() {
        if let Some(spread) = spreads_of(frame.name).get(frame.next) {
            frame.next += 1;
            match enter(spread.name, fragments, measured)? {
                Entry::Known(m) => frame.sum.add(spread.place, &m),
                Entry::Start(m) => stack.push(Frame { name: spread.name, place: spread.place, next: 0, sum: m }),
            }
            continue;
        }
        let Frame { name, place, sum, .. } = *frame;
        measured.insert(name, Status::Done(sum));
        stack.pop();
        match stack.last_mut() {
            Some(parent) => parent.sum.add(place, &sum),
            None => root_measure = sum,
        }
    }
    Ok(root_measure)
}

/// Expanded fields spent so far by the operations of one HTTP request: a batch shares one, so
/// ten operations under the limit cannot add up to ten times it. Cheap to clone.
#[derive(Clone, Default)]
pub struct FieldTally(Arc<AtomicUsize>);

impl FieldTally {
    /// Spends `fields` if the total stays within `limit`: the new total, or what was already
    /// spent (a refused operation spends nothing).
    pub fn spend(&self, fields: usize, limit: usize) -> Result<usize, usize> {
        self.0.fetch_update(Ordering::AcqRel, Ordering::Acquire, |spent| spent.checked_add(fields).filter(|total| *total <= limit)).map(|spent| spent + fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(text: &str) -> Result<Expansion, FragmentCycle> {
        expand(&async_graphql::parser::parse_query(text).expect("parses"))
    }

    fn count(text: &str) -> Result<usize, FragmentCycle> {
        measure(text).map(|e| e.fields)
    }

    /// `query { ...F<n> }` where each fragment spreads the previous one twice.
    fn bomb(n: usize) -> String {
        let mut text = format!("query {{ ...F{n} }} fragment F0 on Query {{ __typename }} ");
        for i in 1..=n {
            text += &format!("fragment F{i} on Query {{ ...F{j} ...F{j} }} ", j = i - 1);
        }
        text
    }

    #[test]
    fn fields_count_as_written_without_fragments() {
        assert_eq!(count("{ __typename }"), Ok(1));
        assert_eq!(count("{ contacts(first: 100) { nodes { id tasks { id title } } } }"), Ok(6), "lists are not multiplied by `first`");
        assert_eq!(count("{ a ... on Query { b c } }"), Ok(3));
    }

    #[test]
    fn spreads_count_the_fragment_each_time() {
        assert_eq!(count("{ a { ...F } b { ...F } } fragment F on T { x y }"), Ok(6));
        assert_eq!(count("{ ...G } fragment G on Query { a ...F ...F } fragment F on Query { x { y } }"), Ok(5));
    }

    #[test]
    fn every_operation_counts_since_validation_walks_them_all() {
        assert_eq!(count("query A { a b } query B { ...F } fragment F on Query { c }"), Ok(3));
        assert_eq!(count("{ a } fragment Unused on Query { b c d }"), Ok(1));
    }

    #[test]
    fn a_doubling_bomb_counts_exponentially_in_linear_time() {
        assert_eq!(count(&bomb(24)), Ok(1 << 24));
        assert_eq!(count(&bomb(200)), Ok(usize::MAX), "saturates instead of overflowing");
    }

    #[test]
    fn unknown_fragments_count_one() {
        assert_eq!(count("{ a ...Missing }"), Ok(2));
        let mut piles = String::from("{ ...P40 } fragment P0 on Query { ...X } ");
        for i in 1..=40 {
            piles += &format!("fragment P{i} on Query {{ ...P{j} ...P{j} }} ", j = i - 1);
        }
        assert_eq!(count(&piles), Ok(1 << 40));
    }

    #[test]
    fn cycles_are_reported_not_followed() {
        assert_eq!(count("{ ...A } fragment A on Query { ...A ...A }"), Err(FragmentCycle("A".into())));
        assert!(count("{ ...A } fragment A on Query { x ...B } fragment B on Query { ...C } fragment C on Query { ...A }").is_err());
        assert_eq!(count("{ a } fragment A on Query { ...A }"), Ok(1), "an unused cycle is left to validation");
    }

    #[test]
    fn a_long_fragment_chain_does_not_recurse() {
        let mut chain = String::from("{ ...C0 } ");
        for i in 0..20_000 {
            chain += &format!("fragment C{i} on Query {{ x ...C{} }} ", i + 1);
        }
        chain += "fragment C20000 on Query { x }";
        let document = async_graphql::parser::parse_query(&chain).expect("parses");
        let counted = std::thread::Builder::new().stack_size(256 * 1024).spawn(move || expand(&document).map(|e| (e.fields, e.depth)));
        assert_eq!(counted.expect("thread starts").join().expect("no overflow"), Ok((20_001, 1)));
    }

    #[test]
    fn depth_counts_fields_as_async_graphql_does() {
        let depth = |text| measure(text).map(|e| e.depth);
        assert_eq!(depth("{ a { b { c } } d }"), Ok(3));
        assert_eq!(depth("{ a { __typename } }"), Ok(1), "`__typename` is no level");
        assert_eq!(depth("{ a { ... on T { b } } }"), Ok(2), "inline fragments are no level");
        assert_eq!(depth("{ a { ...F } } fragment F on T { b { c } }"), Ok(3));
        assert_eq!(depth("query A { a } query B { b { c } }"), Ok(2), "the deepest operation");
        assert_eq!(depth("{ a { ...Missing } }"), Ok(1));
    }

    #[test]
    fn introspection_counts_toward_no_depth_but_its_own_cost() {
        let e = measure("{ __schema { types { name fields { type { ofType { name } } } } } contact { id } }").expect("measured");
        assert_eq!((e.depth, e.introspection, e.fields), (2, 7, 9));
        let e = measure("{ __type(name: \"T\") { __typename name } }").expect("measured");
        assert_eq!((e.depth, e.introspection, e.fields), (0, 2, 3), "`__typename` costs no complexity");
    }

    #[test]
    fn a_fragment_counts_by_where_it_is_spread() {
        let e = measure("{ a { ...F } __schema { types { ...F } } } fragment F on T { b c { d } }").expect("measured");
        assert_eq!(e.depth, 3, "1 + F's 2; F inside `__schema` adds no depth");
        assert_eq!(e.introspection, 2 + 3, "`__schema`, `types` and F's three fields");
        assert_eq!(e.fields, 1 + 3 + 2 + 3);
        let nested =
            measure("{ __schema { ...G } } fragment G on __Schema { types { ...H } } fragment H on __Type { name ofType { name } }").expect("measured");
        assert_eq!((nested.depth, nested.introspection), (0, 5));
    }

    #[test]
    fn a_tally_spends_only_what_fits() {
        let tally = FieldTally::default();
        assert_eq!(tally.spend(1500, 2000), Ok(1500));
        assert_eq!(tally.clone().spend(600, 2000), Err(1500));
        assert_eq!(tally.spend(500, 2000), Ok(2000));
        assert_eq!(tally.spend(usize::MAX, 2000), Err(2000));
    }
}
