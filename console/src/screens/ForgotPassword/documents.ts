import { graphql } from "../../gql";

export const RequestPasswordResetDocument = graphql(`
  mutation RequestPasswordReset($email: String!) {
    requestPasswordReset(email: $email) {
      ok
      errors {
        ...UserErrorFields
      }
    }
  }
`);
