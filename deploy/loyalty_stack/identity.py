"""Cognito for staff sign-in: one group per staff role, read by the server from ``cognito:groups``.

The server verifies Cognito's tokens itself (``loyalty.auth.oidc``): the issuer and the app client id
are all it needs (``LOYALTY_OIDC_ISSUER``, ``LOYALTY_OIDC_AUDIENCE``; the JWKS URL comes from the
issuer's discovery document).
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from loyalty.auth.permissions import Role

# Customers never sign in to the back office through Cognito.
STAFF_ROLES = tuple(role for role in Role if role.is_staff)


class Identity(Construct):
    def __init__(self, scope: Construct, id: str, *, callback_urls: list[str]) -> None:
        super().__init__(scope, id)
        self.user_pool = cognito.UserPool(
            self,
            "Staff",
            self_sign_up_enabled=False,  # staff are invited, never self-registered
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=True,
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        for role in STAFF_ROLES:
            cognito.CfnUserPoolGroup(
                self,
                f"Group{role.value.title().replace('_', '')}",
                user_pool_id=self.user_pool.user_pool_id,
                group_name=role.value,
                description=f"Staff with the {role.value} role in the loyalty back office",
            )
        self.client = self.user_pool.add_client(
            "Console",
            generate_secret=False,  # a browser app (the console) cannot keep a secret: PKCE instead
            auth_flows=cognito.AuthFlow(user_srp=True),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE],
                callback_urls=callback_urls,
            ),
            access_token_validity=Duration.minutes(15),
            id_token_validity=Duration.minutes(15),
            refresh_token_validity=Duration.days(1),
            prevent_user_existence_errors=True,
        )
        self.issuer = self.user_pool.user_pool_provider_url
