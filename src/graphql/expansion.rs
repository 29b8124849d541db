//! Counts the fields a document selects once every fragment spread is inlined, the way
//! async-graphql's own checks, validation and execution walk it. Fragments that each spread the
//! previous one twice double per line: 1 KB of text asks for 2^24 fields, and every other limit
//! passes. Each fragment is counted once (memoized, no recursion across fragments), so counting
//! is linear in the document; sums saturate; a fragment cycle is reported, never followed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::Name;

/// A fragment that spreads itself, directly or through others (validation would refuse it, but
/// async-graphql walks spreads before validating).
#[derive(Debug, PartialEq, Eq)]
pub struct FragmentCycle(pub String);

/// Fields written in one selection set (nested sets included), and the fragments it spreads.
#[derive(Default)]
struct Written<'a> {
    fields: usize,
    spreads: Vec<&'a Name>,
}

impl<'a> Written<'a> {
    /// Recursion here follows braces only, which the nesting pre-scan has bounded.
    fn of(set: &'a SelectionSet) -> Self {
        let mut written = Self::default();
        written.add(set);
        written
    }

    fn add(&mut self, set: &'a SelectionSet) {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    self.fields += 1;
                    self.add(&field.node.selection_set.node);
                }
                Selection::FragmentSpread(spread) => self.spreads.push(&spread.node.fragment_name.node),
                Selection::InlineFragment(inline) => self.add(&inline.node.selection_set.node),
            }
        }
    }
}

enum Count {
    InProgress,
    Done(usize),
}

/// Every field of every operation in `document` (`__typename` included), with each fragment
/// spread replaced by the fragment's own expanded count. A spread of an unknown fragment counts
/// 1, so piles of them cannot multiply unseen either (validation refuses them later).
pub fn expanded_fields(document: &ExecutableDocument) -> Result<usize, FragmentCycle> {
    let fragments: HashMap<&Name, Written> = document.fragments.iter().map(|(name, f)| (name, Written::of(&f.node.selection_set.node))).collect();
    let mut counts = HashMap::new();
    let mut total = 0usize;
    for (_, operation) in document.operations.iter() {
        let written = Written::of(&operation.node.selection_set.node);
        total = total.saturating_add(written.fields);
        for name in written.spreads {
            total = total.saturating_add(fragment_count(name, &fragments, &mut counts)?);
        }
    }
    Ok(total)
}

/// A fragment being counted: how many of its spreads are done, and its count so far.
struct Frame<'a> {
    name: &'a Name,
    next: usize,
    sum: usize,
}

/// What a spread of `name` contributes, if known already.
enum Spread {
    Known(usize),
    /// Not counted yet: start on it with its written fields.
    Start(usize),
}

fn enter<'a>(name: &'a Name, fragments: &HashMap<&'a Name, Written<'a>>, counts: &mut HashMap<&'a Name, Count>) -> Result<Spread, FragmentCycle> {
    match (counts.get(name), fragments.get(name)) {
        (Some(Count::Done(n)), _) => Ok(Spread::Known(*n)),
        (Some(Count::InProgress), _) => Err(FragmentCycle(name.to_string())),
        (None, None) => Ok(Spread::Known(1)),
        (None, Some(written)) => {
            counts.insert(name, Count::InProgress);
            Ok(Spread::Start(written.fields))
        }
    }
}

/// The expanded count of fragment `root`, depth-first with an explicit stack: a chain of
/// thousands of fragments must not recurse thousands of frames deep.
fn fragment_count<'a>(root: &'a Name, fragments: &HashMap<&'a Name, Written<'a>>, counts: &mut HashMap<&'a Name, Count>) -> Result<usize, FragmentCycle> {
    let mut stack = match enter(root, fragments, counts)? {
        Spread::Known(n) => return Ok(n),
        Spread::Start(fields) => vec![Frame { name: root, next: 0, sum: fields }],
    };
    let mut root_count = 0;
    while let Some(frame) = stack.last_mut() {
        let spreads = fragments.get(frame.name).map_or(&[][..], |w| &w.spreads[..]);
        if let Some(&child) = spreads.get(frame.next) {
            frame.next += 1;
            match enter(child, fragments, counts)? {
                Spread::Known(n) => frame.sum = frame.sum.saturating_add(n),
                Spread::Start(fields) => stack.push(Frame { name: child, next: 0, sum: fields }),
            }
            continue;
        }
        let Frame { name, sum, .. } = *frame;
        counts.insert(name, Count::Done(sum));
        stack.pop();
        match stack.last_mut() {
            Some(parent) => parent.sum = parent.sum.saturating_add(sum),
            None => root_count = sum,
        }
    }
    Ok(root_count)
}

/// Expanded fields spent so far by the operations of one HTTP request: a batch shares one, so
/// ten operations under the limit cannot add up to ten times it. Cheap to clone.
#[derive(Clone, Default)]
pub struct FieldTally(Arc<AtomicUsize>);

impl FieldTally {
    /// Spends `fields` if the total stays within `limit`: the new total, or what was already
    /// spent (a refused operation spends nothing).
    pub fn spend(&self, fields: usize, limit: usize) -> Result<usize, usize> {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |spent| spent.checked_add(fields).filter(|total| *total <= limit))
            .map(|spent| spent + fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(text: &str) -> Result<usize, FragmentCycle> {
        expanded_fields(&async_graphql::parser::parse_query(text).expect("parses"))
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
        let counted = std::thread::Builder::new().stack_size(256 * 1024).spawn(move || expanded_fields(&document));
        assert_eq!(counted.expect("thread starts").join().expect("no overflow"), Ok(20_001));
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
