import { graphql } from "../../gql";

export const PasswordLinkDocument = graphql(`
  query PasswordLink($token: String!) {
    passwordLink(token: $token) {
      purpose
      email
      expiresAt
    }
  }
`);

export const ResetPasswordDocument = graphql(`
  mutation ResetPassword($token: String!, $password: String!) {
    resetPassword(token: $token, password: $password) {
      ...SignInPayloadFields
    }
  }
`);

export const AcceptInvitationDocument = graphql(`
  mutation AcceptInvitation($token: String!, $password: String!) {
    acceptInvitation(token: $token, password: $password) {
      ...SignInPayloadFields
    }
  }
`);
