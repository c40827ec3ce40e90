import { graphql } from "../../gql";

export const SignInDocument = graphql(`
  mutation SignIn($email: String!, $password: String!) {
    signIn(email: $email, password: $password) {
      ...SignInPayloadFields
    }
  }
`);
