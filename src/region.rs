//! AWS regions tether knows, and the partition each belongs to.
//!
//! An unknown region is a validation error (with the closest known name), because a
//! typo would otherwise surface only as a connection failure at plan time.

use serde::Serialize;
use std::fmt;

const REGIONS: &[(&str, &str)] = &[
    ("af-south-1", "aws"),
    ("ap-east-1", "aws"),
    ("ap-east-2", "aws"),
    ("ap-northeast-1", "aws"),
    ("ap-northeast-2", "aws"),
    ("ap-northeast-3", "aws"),
    ("ap-south-1", "aws"),
    ("ap-south-2", "aws"),
    ("ap-southeast-1", "aws"),
    ("ap-southeast-2", "aws"),
    ("ap-southeast-3", "aws"),
    ("ap-southeast-4", "aws"),
    ("ap-southeast-5", "aws"),
    ("ap-southeast-6", "aws"),
    ("ap-southeast-7", "aws"),
    ("ca-central-1", "aws"),
    ("ca-west-1", "aws"),
    ("eu-central-1", "aws"),
    ("eu-central-2", "aws"),
    ("eu-north-1", "aws"),
    ("eu-south-1", "aws"),
    ("eu-south-2", "aws"),
    ("eu-west-1", "aws"),
    ("eu-west-2", "aws"),
    ("eu-west-3", "aws"),
    ("il-central-1", "aws"),
    ("me-central-1", "aws"),
    ("me-south-1", "aws"),
    ("mx-central-1", "aws"),
    ("sa-east-1", "aws"),
    ("us-east-1", "aws"),
    ("us-east-2", "aws"),
    ("us-west-1", "aws"),
    ("us-west-2", "aws"),
    ("cn-north-1", "aws-cn"),
    ("cn-northwest-1", "aws-cn"),
    ("us-gov-east-1", "aws-us-gov"),
    ("us-gov-west-1", "aws-us-gov"),
];

/// A known AWS region name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Region(String);

impl Region {
    /// The region, when `name` is one tether knows.
    pub fn parse(name: &str) -> Option<Region> {
        REGIONS
            .iter()
            .any(|(r, _)| *r == name)
            .then(|| Region(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The ARN partition: `aws`, `aws-cn` or `aws-us-gov`.
    pub fn partition(&self) -> &'static str {
        REGIONS
            .iter()
            .find(|(r, _)| *r == self.0)
            .map(|(_, p)| *p)
            .unwrap_or("aws")
    }

    /// The known regions of `partition`, for messages.
    pub fn in_partition(partition: &str) -> impl Iterator<Item = &'static str> + '_ {
        REGIONS
            .iter()
            .filter(move |(_, p)| *p == partition)
            .map(|(r, _)| *r)
    }

    /// Every known region name, for suggestions.
    pub fn all() -> impl Iterator<Item = &'static str> + Clone {
        REGIONS.iter().map(|(r, _)| *r)
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_regions_and_partitions() {
        assert_eq!(Region::parse("eu-west-1").unwrap().partition(), "aws");
        assert_eq!(Region::parse("cn-north-1").unwrap().partition(), "aws-cn");
        assert!(Region::parse("eu-west-9").is_none());
        assert!(Region::parse("EU-WEST-1").is_none());
    }
}
