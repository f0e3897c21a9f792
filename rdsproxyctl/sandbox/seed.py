"""What ``sandbox up`` creates in the sandbox's API, through the API itself.

* IAM user ``sandbox-admin`` with an access key and an allow-everything policy (it may
  also ``rds-db:connect`` to any proxy): ``sandbox env`` exports its keys;
* Secrets Manager secret ``sandbox/app`` (JSON ``username``/``password``, the RDS shape)
  for the application user, who exists in the real PostgreSQL;
* IAM role ``sandbox-rds-proxy`` that RDS may assume, allowed to read that secret
  (the role a proxy's ``RoleArn`` names);
* in the default VPC: two subnets in different AZs, security groups ``sandbox-proxy``
  and ``sandbox-db`` (the database admits the proxy's group on its port), a DB subnet
  group ``sandbox``;
* DB instance ``sandbox-db`` (engine postgres) whose endpoint is the real PostgreSQL;
* with MariaDB (``sandbox up --mysql``): DB instance ``sandbox-mysql`` (engine mariadb)
  whose endpoint is the real MariaDB, and the proxies' group opened on 3306 too.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

ADMIN_USER = "sandbox-admin"
SECRET_NAME = "sandbox/app"
ROLE_NAME = "sandbox-rds-proxy"
DB_INSTANCE = "sandbox-db"
MYSQL_INSTANCE = "sandbox-mysql"
SUBNET_GROUP = "sandbox"

_ALLOW_ALL = {"Version": "2012-10-17",
              "Statement": [{"Sid": "SandboxAdmin", "Effect": "Allow", "Action": "*",
                             "Resource": "*"}]}
_TRUST_RDS = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Principal": {"Service": "rds.amazonaws.com"},
                             "Action": "sts:AssumeRole"}]}


@dataclass(frozen=True)
class Seeded:
    account_id: str
    region: str
    admin_user: str
    access_key_id: str
    secret_access_key: str
    secret_arn: str
    role_arn: str
    vpc_id: str
    subnet_ids: list[str]
    proxy_security_group: str
    db_security_group: str
    db_instance: str
    db_name: str
    mysql_instance: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def secret_policy(secret_arn: str, region: str) -> dict[str, Any]:
    """The proxy role's permissions: read the secret (and decrypt it via Secrets Manager).
    https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-iam-setup.html"""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "ReadSecret", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
         "Resource": secret_arn},
        {"Sid": "DecryptSecret", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}}},
    ]}


def seed(aws: Any, *, db_host: str, db_port: int, superuser_password: str, app_user: str,
         app_password: str, app_database: str) -> Seeded:
    """Create the sandbox's resources with clients from the factory ``aws``."""
    iam, ec2, rds, sm = (aws.client(s) for s in ("iam", "ec2", "rds", "secretsmanager"))
    region = aws.region
    iam.create_user(UserName=ADMIN_USER)
    iam.put_user_policy(UserName=ADMIN_USER, PolicyName="sandbox-admin-all",
                        PolicyDocument=json.dumps(_ALLOW_ALL))
    key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
    account = iam.get_user(UserName=ADMIN_USER)["User"]["Arn"].split(":")[4]

    secret_arn = sm.create_secret(
        Name=SECRET_NAME, Description="rdsproxyctl sandbox: the application's database login",
        SecretString=json.dumps({"username": app_user, "password": app_password,
                                 "engine": "postgres", "host": db_host, "port": db_port,
                                 "dbname": app_database}))["ARN"]
    role_arn = iam.create_role(RoleName=ROLE_NAME,
                               AssumeRolePolicyDocument=json.dumps(_TRUST_RDS),
                               Description="rdsproxyctl sandbox: the proxy's role")["Role"]["Arn"]
    iam.put_role_policy(RoleName=ROLE_NAME, PolicyName="read-app-secret",
                        PolicyDocument=json.dumps(secret_policy(secret_arn, region)))

    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    by_az: dict[str, str] = {}
    for subnet in ec2.describe_subnets(
            Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]:
        by_az.setdefault(subnet["AvailabilityZone"], subnet["SubnetId"])
    subnets = [by_az[az] for az in sorted(by_az)][:2]
    proxy_sg = ec2.create_security_group(GroupName="sandbox-proxy", VpcId=vpc["VpcId"],
                                         Description="rdsproxyctl sandbox: proxies")["GroupId"]
    db_sg = ec2.create_security_group(GroupName="sandbox-db", VpcId=vpc["VpcId"],
                                      Description="rdsproxyctl sandbox: the database")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=db_sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": db_port, "ToPort": db_port,
        "UserIdGroupPairs": [{"GroupId": proxy_sg, "Description": "from the proxies"}]}])
    ec2.authorize_security_group_ingress(GroupId=proxy_sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
        "IpRanges": [{"CidrIp": vpc["CidrBlock"], "Description": "clients in the VPC"}]}])
    rds.create_db_subnet_group(DBSubnetGroupName=SUBNET_GROUP, SubnetIds=subnets,
                               DBSubnetGroupDescription="rdsproxyctl sandbox")
    rds.create_db_instance(
        DBInstanceIdentifier=DB_INSTANCE, Engine="postgres", EngineVersion="15.4",
        DBInstanceClass="db.t3.micro", AllocatedStorage=20, MasterUsername="postgres",
        MasterUserPassword=superuser_password, DBName=app_database, Port=db_port,
        DBSubnetGroupName=SUBNET_GROUP, VpcSecurityGroupIds=[db_sg],
        EnableIAMDatabaseAuthentication=True)
    ec2.authorize_security_group_ingress(GroupId=proxy_sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 3306, "ToPort": 3306,
        "IpRanges": [{"CidrIp": vpc["CidrBlock"], "Description": "MySQL clients in the VPC"}]}])
    return Seeded(account_id=account, region=region, admin_user=ADMIN_USER,
                  access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"],
                  secret_arn=secret_arn, role_arn=role_arn, vpc_id=vpc["VpcId"],
                  subnet_ids=subnets, proxy_security_group=proxy_sg, db_security_group=db_sg,
                  db_instance=DB_INSTANCE, db_name=app_database)


def seed_mysql(aws: Any, seeded: Seeded, *, db_port: int, superuser_password: str) -> Seeded:
    """DB instance ``sandbox-mysql`` (engine mariadb) for MYSQL proxies, the database's
    group open to the proxies on its port; ``seeded`` with its name."""
    from dataclasses import replace

    rds, ec2 = aws.client("rds"), aws.client("ec2")
    ec2.authorize_security_group_ingress(GroupId=seeded.db_security_group, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": db_port, "ToPort": db_port,
        "UserIdGroupPairs": [{"GroupId": seeded.proxy_security_group,
                              "Description": "from the proxies (MariaDB)"}]}])
    rds.create_db_instance(
        DBInstanceIdentifier=MYSQL_INSTANCE, Engine="mariadb", EngineVersion="10.11.9",
        DBInstanceClass="db.t3.micro", AllocatedStorage=20, MasterUsername="admin",
        MasterUserPassword=superuser_password, DBName=seeded.db_name, Port=db_port,
        DBSubnetGroupName=SUBNET_GROUP, VpcSecurityGroupIds=[seeded.db_security_group],
        EnableIAMDatabaseAuthentication=True)
    return replace(seeded, mysql_instance=MYSQL_INSTANCE)
