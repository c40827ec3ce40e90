/**
 * Selections several screens' documents share, each written once. Fragment masking is off, so a
 * result holds a fragment's fields as if they were selected in place.
 */
import { graphql } from "../gql";

/** A mutation's expected failure, as every form shows it. */
export const UserErrorFields = graphql(`
  fragment UserErrorFields on UserError {
    code
    field
    message
  }
`);

/** Who a user is, as screens name them. */
export const UserFields = graphql(`
  fragment UserFields on User {
    id
    email
    firstName
    lastName
    role
  }
`);

export const PointsAccountFields = graphql(`
  fragment PointsAccountFields on PointsAccount {
    id
    program
    balance
  }
`);

/** A change of a user: the user it was made to, or the approval request made instead. */
export const UserPayloadFields = graphql(`
  fragment UserPayloadFields on UserPayload {
    user {
      id
    }
    approvalRequest {
      id
    }
    errors {
      ...UserErrorFields
    }
  }
`);

/** A change of a points account: the account after it, or the approval request made instead. */
export const PointsPayloadFields = graphql(`
  fragment PointsPayloadFields on AdjustPointsPayload {
    account {
      id
      balance
    }
    approvalRequest {
      id
    }
    errors {
      ...UserErrorFields
    }
  }
`);

/** A new session (signing in, or setting a password): its access token, or why there is none. */
export const SignInPayloadFields = graphql(`
  fragment SignInPayloadFields on SignInPayload {
    accessToken
    errors {
      ...UserErrorFields
    }
  }
`);
