"""Network checks: subnets in two AZs, security groups between the proxy and its targets."""

from __future__ import annotations

import ipaddress
from typing import Any

from rdsproxyctl.core.diagnose import data
from rdsproxyctl.core.diagnose.framework import FAIL, PASS, Context, Finding, SkipCheck, check

NETWORK_DOCS = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-network-prereqs.html"


@check("network.subnets", "network", "Subnets in at least two Availability Zones",
       link=NETWORK_DOCS)
def network_subnets(ctx: Context) -> Finding:
    p = data.proxy(ctx)
    known = data.subnets(ctx)
    missing = [s for s in p.subnet_ids if s not in known]
    zones = sorted({known[s]["AvailabilityZone"] for s in p.subnet_ids if s in known})
    evidence = {"subnets": p.subnet_ids, "availability_zones": zones, "missing": missing}
    if missing:
        return ctx.finding("network.subnets", FAIL, f"Subnet(s) {', '.join(missing)} no longer "
                           "exist", evidence=evidence,
                           remedy="recreate the proxy in existing subnets of two AZs")
    if len(zones) < 2:
        return ctx.finding("network.subnets", FAIL, "The proxy's subnets are all in one AZ",
                           evidence=evidence,
                           remedy="use subnets in at least two Availability Zones (recreate "
                                  "the proxy with --subnets A,B from different AZs)")
    return ctx.finding("network.subnets", PASS, f"Subnets in {len(zones)} AZs", evidence=evidence)


def _rule_allows(rule: dict[str, Any], port: int) -> bool:
    if rule.get("IpProtocol") in ("-1", "all"):
        return True
    if rule.get("IpProtocol") not in ("tcp", "6"):
        return False
    low, high = rule.get("FromPort"), rule.get("ToPort")
    return low is not None and high is not None and int(low) <= port <= int(high)


def _peers(rule: dict[str, Any]) -> tuple[set[str], list[Any]]:
    groups = {g["GroupId"] for g in rule.get("UserIdGroupPairs", []) if g.get("GroupId")}
    nets = [ipaddress.ip_network(r["CidrIp"], strict=False) for r in rule.get("IpRanges", [])
            if r.get("CidrIp")]
    nets += [ipaddress.ip_network(r["CidrIpv6"], strict=False)
             for r in rule.get("Ipv6Ranges", []) if r.get("CidrIpv6")]
    return groups, nets


def _covers(nets: list[Any], cidrs: list[Any]) -> bool:
    """Every one of ``cidrs`` lies inside some network of ``nets``."""
    return bool(cidrs) and all(any(c.version == n.version and c.subnet_of(n) for n in nets)
                               for c in cidrs)


@check("network.security_groups", "network", "Security groups let the proxy reach its targets",
       link=NETWORK_DOCS)
def network_security_groups(ctx: Context) -> Finding:
    p = data.proxy(ctx)
    groups = data.security_groups(ctx)
    subnets = data.subnets(ctx)
    instances = data.db_instances(ctx)
    proxy_cidrs = [ipaddress.ip_network(subnets[s]["CidrBlock"]) for s in p.subnet_ids
                   if s in subnets and subnets[s].get("CidrBlock")]
    targets = [t for t in data.targets(ctx) if t.type == "RDS_INSTANCE"]
    if not targets:
        raise SkipCheck("no instance targets to check")
    problems: list[str] = []
    checked: list[dict[str, Any]] = []
    for t in targets:
        db = instances.get(t.rds_resource_id or "")
        port = int(t.port or (db or {}).get("Endpoint", {}).get("Port") or 5432)
        egress, ingress, db_groups = reach(p.security_group_ids, proxy_cidrs, groups, db, port)
        checked.append({"target": t.rds_resource_id, "port": port, "proxy_egress": egress,
                        "database_ingress": ingress,
                        "database_security_groups": [g["GroupId"] for g in db_groups]})
        if not egress:
            problems.append(f"the proxy's security groups allow no egress to {t.rds_resource_id} "
                            f"on port {port}")
        if not ingress:
            problems.append(f"{t.rds_resource_id}'s security groups allow no ingress on port "
                            f"{port} from the proxy's group or subnets")
    evidence = {"proxy_security_groups": p.security_group_ids, "targets": checked}
    if not problems:
        return ctx.finding("network.security_groups", PASS, "The proxy can reach every target",
                           evidence=evidence)
    first = checked[0]
    remedy = []
    if not first["proxy_egress"] and p.security_group_ids:
        remedy.append(f"aws ec2 authorize-security-group-egress --group-id "
                      f"{p.security_group_ids[0]} --protocol tcp --port {first['port']} "
                      f"--source-group {(first['database_security_groups'] or ['DB_SG'])[0]}")
    if not first["database_ingress"] and p.security_group_ids:
        remedy.append(f"aws ec2 authorize-security-group-ingress --group-id "
                      f"{(first['database_security_groups'] or ['DB_SG'])[0]} --protocol tcp "
                      f"--port {first['port']} --source-group {p.security_group_ids[0]}")
    return ctx.finding("network.security_groups", FAIL, "; ".join(problems), evidence=evidence,
                       remedy="; ".join(remedy) or None)


def reach(proxy_group_ids: list[str], proxy_cidrs: list[Any], groups: dict[str, dict[str, Any]],
          db: dict[str, Any] | None, port: int) -> tuple[bool, bool, list[dict[str, Any]]]:
    """(the proxy's groups allow egress to ``db`` on ``port``, the database's groups allow
    ingress from the proxy's groups or subnets, the database's groups).  `create` warns
    with it before making a proxy this check would FAIL."""
    proxy_groups = [groups[g] for g in proxy_group_ids if g in groups]
    egress = any(_rule_allows(r, port) and _egress_reaches(r, db, groups)
                 for g in proxy_groups for r in g.get("IpPermissionsEgress", []))
    db_groups = [groups[m["VpcSecurityGroupId"]] for m in (db or {}).get("VpcSecurityGroups", [])
                 if m.get("VpcSecurityGroupId") in groups]
    ingress = any(_ingress_from_proxy(r, port, set(proxy_group_ids), proxy_cidrs)
                  for g in db_groups for r in g.get("IpPermissions", []))
    return egress, ingress, db_groups


def _egress_reaches(rule: dict[str, Any], db: dict[str, Any] | None,
                    groups: dict[str, dict[str, Any]]) -> bool:
    peer_groups, nets = _peers(rule)
    if any(n.prefixlen == 0 for n in nets):
        return True
    db_groups = {m.get("VpcSecurityGroupId") for m in (db or {}).get("VpcSecurityGroups", [])}
    return bool(peer_groups & db_groups) or bool(nets and db is None)


def _ingress_from_proxy(rule: dict[str, Any], port: int, proxy_groups: set[str],
                        proxy_cidrs: list[Any]) -> bool:
    if not _rule_allows(rule, port):
        return False
    peer_groups, nets = _peers(rule)
    return bool(peer_groups & proxy_groups) or _covers(nets, proxy_cidrs)
