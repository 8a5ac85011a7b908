//! Versioned reference tables from `config/`: NRS cut scores.

use std::sync::Arc;

use datafusion::arrow::array::{Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use serde::Deserialize;

use crate::error::{Error, Result};

pub const BUILTIN_NRS: &str = include_str!("../../config/nrs_levels.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NrsTable {
    pub version: String,
    #[serde(rename = "table")]
    pub tables: Vec<CutTable>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CutTable {
    pub id: String,
    pub tests: Vec<String>,
    pub levels: Vec<Level>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Level {
    pub level: i32,
    pub min: i32,
    pub max: i32,
}

impl NrsTable {
    pub fn load(path: Option<&str>) -> Result<NrsTable> {
        let (text, origin) = match path {
            Some(p) => (
                std::fs::read_to_string(crate::config::resolve(p)).map_err(|e| Error::config(p, format!("cannot read: {e}")))?,
                p.to_string(),
            ),
            None => (BUILTIN_NRS.to_string(), "config/nrs_levels.toml (built in)".to_string()),
        };
        let t: NrsTable = toml::from_str(&text).map_err(|e| Error::config(&origin, e.to_string()))?;
        for ct in &t.tables {
            let mut prev: Option<&Level> = None;
            for l in &ct.levels {
                if l.min > l.max || prev.is_some_and(|p| p.max >= l.min) {
                    return Err(Error::config(&origin, format!("table {}: level {} overlaps or is reversed", ct.id, l.level)));
                }
                prev = Some(l);
            }
        }
        Ok(t)
    }

    /// Level of a score on a test: (level, table id).
    pub fn level(&self, test: &str, score: f64) -> Option<(i32, &str)> {
        let t = self.tables.iter().find(|t| t.tests.iter().any(|x| x == test))?;
        t.levels
            .iter()
            .find(|l| score >= l.min as f64 && score <= l.max as f64)
            .map(|l| (l.level, t.id.as_str()))
    }

    /// As a table for the SQL models: test, table_id, level, min_score, max_score.
    pub fn to_table(&self) -> Result<MemTable> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("test", DataType::Utf8, false),
            Field::new("table_id", DataType::Utf8, false),
            Field::new("level", DataType::Int32, false),
            Field::new("min_score", DataType::Int32, false),
            Field::new("max_score", DataType::Int32, false),
        ]));
        let (mut test, mut id, mut level, mut min, mut max) = (vec![], vec![], vec![], vec![], vec![]);
        for t in &self.tables {
            for x in &t.tests {
                for l in &t.levels {
                    test.push(x.clone());
                    id.push(t.id.clone());
                    level.push(l.level);
                    min.push(l.min);
                    max.push(l.max);
                }
            }
        }
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(test)),
                Arc::new(StringArray::from(id)),
                Arc::new(Int32Array::from(level)),
                Arc::new(Int32Array::from(min)),
                Arc::new(Int32Array::from(max)),
            ],
        )?;
        Ok(MemTable::try_new(schema, vec![vec![batch]])?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casas_and_best_plus_levels() {
        let t = NrsTable::load(None).unwrap();
        assert_eq!(t.level("casas_reading", 180.0).unwrap().0, 1);
        assert_eq!(t.level("casas_reading", 181.0).unwrap().0, 2);
        assert_eq!(t.level("casas_listening", 221.0).unwrap().0, 6);
        assert!(t.level("casas_reading", 236.0).is_none());
        assert_eq!(t.level("best_plus_2", 453.0).unwrap().0, 4);
        assert_eq!(t.level("best_plus", 453.0).unwrap().0, 4);
        assert_eq!(t.level("best_plus", 473.0).unwrap().0, 5);
        assert!(t.level("unknown_test", 200.0).is_none());
    }
}
